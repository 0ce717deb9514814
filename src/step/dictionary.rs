//! The `dictionary` step: publishes `tag_dictionary` from the tag dictionary file
//! (`sql/tags/dictionary.toml`), the one source of truth for what every member-level tag
//! means — and refuses a job whose tags table has a column the dictionary does not
//! describe (or describes a column it does not have), so a new tag cannot ship without
//! its definition. docs/tags.md's dictionary table is generated from the same file
//! ([`markdown`]; a test keeps them equal).
//!
//! ```toml
//! [[steps]]
//! type = "dictionary"
//! file = "../sql/tags/dictionary.toml"   # required; relative to the job file
//! tags = "member_tags"                   # default: the table it describes
//! output = "tag_dictionary"              # default
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, ListBuilder, RecordBatch, StringArray, StringBuilder, StructBuilder,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::{Step, StepContext, config_error};
use crate::error::{Location, Problem, Result, SiyuError};

pub const KIND: &str = "dictionary";

/// Columns of the tags table that are keys, not tags.
const NOT_TAGS: [&str; 2] = ["member_id", "as_of"];

/// The dictionary file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dictionary {
    pub tags: Vec<TagEntry>,
}

/// One tag: a column of the tags table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagEntry {
    pub name: String,
    pub name_zh: String,
    pub definition: String,
    /// The SQL file that computes it, relative to the repository.
    pub sql: String,
    /// Job params it depends on.
    #[serde(default)]
    pub params: Vec<String>,
    /// Whether `member_tag_changes` lists its changes (false for values every night moves:
    /// day counters and the model's continuous outputs).
    pub changes: bool,
    /// The closed set of values of a categorical tag, with labels.
    #[serde(default)]
    pub values: Vec<ValueLabel>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueLabel {
    pub value: String,
    pub zh: String,
    pub en: String,
}

impl Dictionary {
    /// Read and check a dictionary file: names unique, every field filled in.
    pub fn load(path: &Path) -> std::result::Result<Dictionary, SiyuError> {
        let fail = |m: String| SiyuError::config(m).in_file(path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(format!("cannot read the tag dictionary: {e}")))?;
        let dict: Dictionary = toml::from_str(&text).map_err(|e| fail(e.message().to_string()))?;
        let mut seen = std::collections::BTreeSet::new();
        for t in &dict.tags {
            if !seen.insert(t.name.as_str()) {
                return Err(fail(format!("tag {} is described twice", t.name)));
            }
            if [&t.name_zh, &t.definition, &t.sql]
                .iter()
                .any(|s| s.trim().is_empty())
            {
                return Err(fail(format!(
                    "tag {}: name_zh, definition and sql must not be empty",
                    t.name
                )));
            }
            let mut values = std::collections::BTreeSet::new();
            if let Some(v) = t.values.iter().find(|v| !values.insert(v.value.as_str())) {
                return Err(fail(format!(
                    "tag {}: value {:?} is listed twice",
                    t.name, v.value
                )));
            }
        }
        Ok(dict)
    }

    /// The tags whose changes `member_tag_changes` lists, in dictionary order.
    pub fn tracked(&self) -> impl Iterator<Item = &TagEntry> {
        self.tags.iter().filter(|t| t.changes)
    }
}

pub struct DictionaryStep {
    file: PathBuf,
    dictionary: Dictionary,
    tags: String,
    output: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    file: String,
    #[serde(default = "default_tags")]
    tags: String,
    #[serde(default = "default_output")]
    output: String,
}

fn default_tags() -> String {
    "member_tags".into()
}
fn default_output() -> String {
    "tag_dictionary".into()
}

impl DictionaryStep {
    /// Build from the `[[steps]]` entry at `at` (whose file is the job file: `file` is
    /// relative to it).
    pub fn build(
        table: &toml::Table,
        at: &Location,
    ) -> std::result::Result<Box<dyn Step>, Problem> {
        let p: Params = Params::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| config_error(KIND, e.message()).at(at.clone()))?;
        super::check_identifiers([&p.tags, &p.output])
            .map_err(|m| config_error(KIND, m).at(at.clone()))?;
        let base = at
            .file
            .as_deref()
            .and_then(|f| Path::new(f).parent())
            .unwrap_or(Path::new("."));
        let file = base.join(&p.file);
        let dictionary = Dictionary::load(&file)?;
        Ok(Box::new(DictionaryStep {
            file,
            dictionary,
            tags: p.tags,
            output: p.output,
        }))
    }

    fn problem(&self, m: String) -> SiyuError {
        config_error(KIND, m).in_file(self.file.display())
    }

    /// Every column of the tags table has an entry and every entry a column; every
    /// param an entry names is a job param.
    fn check(&self, ctx: &StepContext, schema: &datafusion::common::DFSchema) -> Result<()> {
        let columns: Vec<&str> = schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|c| !NOT_TAGS.contains(c))
            .collect();
        let described: Vec<&str> = self
            .dictionary
            .tags
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        let missing: Vec<&str> = columns
            .iter()
            .filter(|c| !described.contains(c))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(self
                .problem(format!(
                    "{} has column{} {} with no entry in the tag dictionary: describe every tag ([[tags]] name, name_zh, definition, sql, params, changes, values) before it ships",
                    self.tags,
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", ")
                ))
                .in_table(&self.tags)
                .in_column(missing[0]));
        }
        if let Some(t) = self
            .dictionary
            .tags
            .iter()
            .find(|t| !columns.contains(&t.name.as_str()))
        {
            return Err(self.problem(format!(
                "tag {} is described but {} has no such column (remove the entry, or add the column)",
                t.name, self.tags
            )));
        }
        for t in &self.dictionary.tags {
            if let Some(p) = t.params.iter().find(|p| !ctx.params.contains_key(*p)) {
                return Err(self.problem(format!(
                    "tag {}: param {p} is not a param of the job",
                    t.name
                )));
            }
        }
        Ok(())
    }

    fn batch(
        &self,
        ctx: &StepContext,
        schema: &datafusion::common::DFSchema,
    ) -> Result<RecordBatch> {
        let tags = &self.dictionary.tags;
        let text = |f: &dyn Fn(&TagEntry) -> String| -> ArrayRef {
            Arc::new(tags.iter().map(|t| Some(f(t))).collect::<StringArray>())
        };
        let type_of = |name: &str| {
            schema
                .field_with_unqualified_name(name)
                .map(|f| type_name(f.data_type()))
                .unwrap_or_default()
        };
        let DataType::List(value_item) = crate::outputs::allowed_values() else {
            unreachable!("a list")
        };
        let DataType::Struct(value_fields) = value_item.data_type().clone() else {
            unreachable!("of structs")
        };
        let mut values =
            ListBuilder::new(StructBuilder::from_fields(value_fields, 0)).with_field(value_item);
        let mut params = ListBuilder::new(StringBuilder::new());
        for t in tags {
            for v in &t.values {
                let s = values.values();
                for (i, x) in [&v.value, &v.zh, &v.en].into_iter().enumerate() {
                    s.field_builder::<StringBuilder>(i)
                        .expect("text field")
                        .append_value(x);
                }
                s.append(true);
            }
            values.append(true);
            for p in &t.params {
                params.values().append_value(p);
            }
            params.append(true);
        }
        crate::columns::batch(
            crate::outputs::tag_dictionary(),
            vec![
                text(&|t| t.name.clone()),
                text(&|t| t.name_zh.clone()),
                text(&|t| t.definition.clone()),
                text(&|t| type_of(&t.name)),
                Arc::new(values.finish()),
                Arc::new(params.finish()),
                text(&|t| t.sql.clone()),
                Arc::new(
                    tags.iter()
                        .map(|t| Some(t.changes))
                        .collect::<BooleanArray>(),
                ),
                crate::columns::as_of_column(ctx.as_of_date32(), tags.len()),
            ],
            &self.output,
        )
    }
}

/// A column type as people read it: `utf8`, `int64`, `date32`, `list<utf8>`, ….
fn type_name(t: &DataType) -> String {
    match t {
        DataType::List(f) | DataType::LargeList(f) => format!("list<{}>", type_name(f.data_type())),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "utf8".into(),
        other => other.to_string().to_lowercase(),
    }
}

impl Step for DictionaryStep {
    fn name(&self) -> &str {
        &self.output
    }
    fn reads(&self) -> Vec<String> {
        vec![self.tags.clone()]
    }
    fn writes(&self) -> Vec<String> {
        vec![self.output.clone()]
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            let tags = ctx.table(&self.tags).await?;
            self.check(ctx, tags.schema())?;
            Ok(vec![(
                self.output.clone(),
                crate::outputs::tag_dictionary(),
            )])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let tags = ctx.table(&self.tags).await?;
            let batch = self.batch(ctx, tags.schema())?;
            ctx.write_batch(&self.output, batch).await?;
            Ok(())
        }
        .boxed()
    }
}

/// The dictionary as the Markdown table of docs/tags.md (between its
/// `<!-- tag_dictionary:begin -->` and `<!-- tag_dictionary:end -->` markers).
pub fn markdown(dict: &Dictionary) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from(
        "| tag | 中文 | definition | values (中文 / English) | params | synced as a change | SQL |\n|---|---|---|---|---|---|---|\n",
    );
    for t in &dict.tags {
        let values: Vec<String> = t
            .values
            .iter()
            .map(|v| format!("`{}` {} / {}", v.value, v.zh, v.en))
            .collect();
        let params: Vec<String> = t.params.iter().map(|p| format!("`{p}`")).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | `{}` |\n",
            t.name,
            cell(&t.name_zh),
            cell(&t.definition),
            cell(&values.join("; ")),
            params.join(", "),
            if t.changes { "yes" } else { "no" },
            t.sql
        ));
    }
    out
}

pub const BEGIN: &str = "<!-- tag_dictionary:begin (generated from sql/tags/dictionary.toml: SIYU_BLESS=1 cargo test --lib dictionary) -->";
pub const END: &str = "<!-- tag_dictionary:end -->";

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn shipped() -> Dictionary {
        Dictionary::load(&repo().join("sql/tags/dictionary.toml")).unwrap()
    }

    /// docs/tags.md holds the dictionary as generated; `SIYU_BLESS=1` rewrites it.
    #[test]
    fn docs_tags_md_is_generated_from_the_dictionary() {
        let path = repo().join("docs/tags.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (head, rest) = doc
            .split_once(BEGIN)
            .expect("docs/tags.md has the begin marker");
        let (_, tail) = rest
            .split_once(END)
            .expect("docs/tags.md has the end marker");
        let expected = format!("{head}{BEGIN}\n{}{END}{tail}", markdown(&shipped()));
        if std::env::var_os("SIYU_BLESS").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        assert!(
            doc == expected,
            "docs/tags.md's dictionary table differs from sql/tags/dictionary.toml: run SIYU_BLESS=1 cargo test --lib dictionary"
        );
    }

    /// Every SQL file an entry names exists.
    #[test]
    fn every_entry_names_a_real_sql_file() {
        for t in &shipped().tags {
            assert!(
                repo().join(&t.sql).is_file(),
                "{}: no file {}",
                t.name,
                t.sql
            );
        }
    }

    /// The dictionary's values of a categorical tag are ones the SQL (or the Rust step)
    /// can produce: every text value listed appears quoted in the SQL (its own file, or a
    /// file it reads such as pyramid_layers.sql) or in the value model's Rust — a typo or a renamed value fails here. (That the data holds
    /// no other value is the data test sql/tests/tag_values_in_dictionary.sql.)
    #[test]
    fn listed_values_appear_in_the_sql_behind_them() {
        fn all_sql(dir: &Path, out: &mut String) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    all_sql(&p, out);
                } else if p.extension().is_some_and(|x| x == "sql" || x == "rs") {
                    // Rust string literals quote as SQL does, for the comparison below.
                    out.push_str(&std::fs::read_to_string(&p).unwrap().replace('"', "'"));
                }
            }
        }
        let mut sql = String::new();
        all_sql(&repo().join("sql"), &mut sql);
        // Tags a Rust step computes (value_band, segment names) have their values there.
        all_sql(&repo().join("src/clv"), &mut sql);
        all_sql(&repo().join("src/step"), &mut sql);
        for t in shipped().tags.iter().filter(|t| !t.values.is_empty()) {
            let numeric_or_bool = t
                .values
                .iter()
                .all(|v| v.value.parse::<f64>().is_ok() || v.value == "true" || v.value == "false");
            if numeric_or_bool {
                continue;
            }
            for v in &t.values {
                assert!(
                    sql.contains(&format!("'{}'", v.value)),
                    "{}: value {:?} does not appear in any SQL file (its own is {})",
                    t.name,
                    v.value,
                    t.sql
                );
            }
        }
    }

    /// member_tag_changes.sql compares exactly the tags the dictionary marks `changes`.
    #[test]
    fn member_tag_changes_covers_the_tracked_tags() {
        let sql = std::fs::read_to_string(repo().join("sql/tags/member_tag_changes.sql")).unwrap();
        let in_sql: Vec<&str> = sql
            .split("named_struct('tag', '")
            .skip(1)
            .map(|s| s.split('\'').next().unwrap())
            .collect();
        let dict = shipped();
        let tracked: Vec<&str> = dict.tracked().map(|t| t.name.as_str()).collect();
        assert_eq!(in_sql, tracked);
    }

    #[test]
    fn a_dictionary_with_a_tag_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("d.toml");
        let entry = "[[tags]]\nname = \"a\"\nname_zh = \"甲\"\ndefinition = \"x\"\nsql = \"a.sql\"\nchanges = true\n";
        std::fs::write(&f, format!("{entry}{entry}")).unwrap();
        let e = Dictionary::load(&f).unwrap_err();
        assert!(
            e.message.contains("tag a is described twice"),
            "{}",
            e.message
        );
    }
}
