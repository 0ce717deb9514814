//! Basket rules (购物篮关联规则): frequent itemsets, association rules and the
//! per-member recommendations built on them.

pub mod assoc;
pub mod cli;
pub mod fpgrowth;
pub mod recommend;
pub mod table;
