-- paid_members: every member_id with a paid order before the run date (paid_orders),
-- once. Its own table so that its exact row count is known to the planner: group_measures
-- joins its 18M community events to it, and DataFusion keeps the side it believes smaller
-- in a hash table that cannot spill — guessing from paid_orders' 8M rows, it kept the
-- events (1.3 GB at scale 10, more than a 1 GB --memory-limit).
SELECT DISTINCT member_id FROM paid_orders
