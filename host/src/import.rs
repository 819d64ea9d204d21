//! CSV import of contacts or companies (`crm import contacts people.csv`).
//!
//! The first line holds column names; they map case-insensitively and ignoring
//! spaces, `_` and `-` to input fields (`first_name`, `firstName` and
//! `First Name` are the same column). An unknown or repeated column stops the
//! import before anything is written, so nothing is silently dropped.
//!
//! * contacts: `first_name`, `last_name`, `email`, `phone`, `title`,
//!   `company` (a company NAME, matched exactly within the tenant; created when
//!   missing), `tags` (separated by `;`), `lifecycle_stage` (`at risk`,
//!   `AT_RISK`, ...), `birth_date` (`YYYY-MM-DD`).
//! * companies: `name`, `domain`, `industry`, `employee_count`,
//!   `annual_revenue`, `phone`, `country`, `city`, `tags`, `lifecycle_stage`.
//!
//! Every row is validated by creating it through the ordinary domain command
//! (`record::create`), so it gets exactly the checks, normalisation, audit and
//! events of an API call. A row that fails is reported with its line number in
//! the file and the reason, and the import goes on with the next row.
//!
//! # What is atomic, and how resuming works
//!
//! * **Each row is its own transaction.** A created row stays created even if a
//!   later row fails. When a contact names a company that does not exist yet,
//!   the company is created first, in its own transaction; if the contact is
//!   then rejected, the company remains.
//! * **Batches are the unit of progress** (`batch_size` rows, default 500).
//!   Each batch is first parsed as a whole (cells converted, numbers checked;
//!   unparsable rows are rejected without a write), then its rows are created
//!   one by one. Only after every row of the batch was attempted is the
//!   checkpoint `<FILE>.crm-import` written, holding the line to continue at.
//! * **Re-running the same command resumes** after the last completed batch:
//!   whole batches before the checkpoint are skipped (`skipped_batches`). The
//!   checkpoint remembers the file's size and the import kind; if the file
//!   changed, the import refuses to guess (delete the checkpoint to start
//!   over). It is deleted when the import completes.
//! * A failure that is not about the row (database unavailable, no permission)
//!   stops the import with an error. The checkpoint then still points at the
//!   start of the interrupted batch, so rows of that batch that were already
//!   created before the failure are created again on resume (the duplicate
//!   finder and merge tools clean that up).

use anyhow::{Context, bail};
use crm_core::company::Company;
use crm_core::contact::Contact;
use crm_core::{CoreError, Crm, Principal, record};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// What the rows of the file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Contacts,
    Companies,
}

impl ImportKind {
    fn as_str(self) -> &'static str {
        match self {
            ImportKind::Contacts => "contacts",
            ImportKind::Companies => "companies",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Rows per batch (the unit of the checkpoint). 0 is treated as 1.
    pub batch_size: usize,
    /// Skip rows starting before this line of the file (overrides the checkpoint file).
    pub resume_from_line: Option<usize>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch_size: 500,
            resume_from_line: None,
            progress: false,
        }
    }
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// Line of the file where the row starts (the header is line 1).
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub rejected: Vec<RejectedRow>,
    /// Batches skipped because an earlier run had completed them.
    pub skipped_batches: usize,
}

/// The report as text: totals, then every rejected row (`line 17: input.email: ...`).
pub fn render_report(r: &ImportReport) -> String {
    let mut out = format!(
        "imported {} row{}, rejected {}",
        r.imported,
        if r.imported == 1 { "" } else { "s" },
        r.rejected.len()
    );
    if r.skipped_batches > 0 {
        out.push_str(&format!(
            ", skipped {} batch{} completed by an earlier run",
            r.skipped_batches,
            if r.skipped_batches == 1 { "" } else { "es" }
        ));
    }
    if !r.rejected.is_empty() {
        out.push_str("\nrejected rows:");
        for row in &r.rejected {
            out.push_str(&format!("\nline {}: {}", row.line, row.reason));
        }
    }
    out
}

/// Where the checkpoint of an import of `path` lives: `<FILE>.crm-import`.
pub fn checkpoint_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".crm-import");
    PathBuf::from(s)
}

/// Import `path` into the principal's tenant. See the module docs for what is atomic.
pub async fn import(
    crm: &Crm,
    principal: &Principal,
    kind: ImportKind,
    path: &Path,
    opts: ImportOptions,
) -> anyhow::Result<ImportReport> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let checkpoint = checkpoint_path(path);
    let resume = match opts.resume_from_line {
        Some(l) => l,
        None => read_checkpoint(&checkpoint, kind, size)?.unwrap_or(0),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let headers = rdr
        .headers()
        .with_context(|| format!("cannot read the header line of {}", path.display()))?
        .clone();
    let columns = map_headers(kind, &headers)?;
    let mut companies = match kind {
        ImportKind::Contacts if columns.contains(&Field::Company) => {
            company_names(crm, principal.tenant_id).await?
        }
        _ => HashMap::new(),
    };

    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(size);
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        b.set_style(style);
        b
    } else {
        indicatif::ProgressBar::hidden()
    };

    let batch_size = opts.batch_size.max(1);
    let mut report = ImportReport::default();
    let mut record = csv::StringRecord::new();
    let mut done = false;
    while !done {
        // 1. Read and parse one batch; nothing is written yet.
        let mut batch: Vec<(usize, ParsedRow)> = vec![];
        while batch.len() < batch_size {
            match rdr.read_record(&mut record) {
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line() as usize);
                    batch.push((line, parse_row(&columns, &record)));
                }
                Ok(false) => {
                    done = true;
                    break;
                }
                Err(e) => match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        pos,
                        expected_len,
                        len,
                    } => {
                        let line = pos.as_ref().map_or(0, |p| p.line() as usize);
                        batch.push((
                            line,
                            Err(format!("has {len} cells, the header has {expected_len}")),
                        ));
                    }
                    csv::ErrorKind::Utf8 { pos, .. } => {
                        let line = pos.as_ref().map_or(0, |p| p.line() as usize);
                        batch.push((line, Err("is not valid UTF-8".into())));
                    }
                    _ => {
                        return Err(e).with_context(|| format!("cannot read {}", path.display()));
                    }
                },
            }
        }
        let Some(last_line) = batch.iter().map(|(l, _)| *l).max() else {
            break;
        };
        if last_line < resume {
            report.skipped_batches += 1;
            bar.set_position(rdr.position().byte());
            continue;
        }
        // 2. Create the batch's rows, each in its own transaction.
        for (line, parsed) in batch {
            if line < resume {
                continue;
            }
            let outcome = match parsed {
                Err(reason) => Err(reason),
                Ok(input) => create_row(crm, principal, kind, input, &mut companies)
                    .await
                    .with_context(|| {
                        format!(
                            "import stopped at line {line} of {}; re-running resumes at line {}",
                            path.display(),
                            resume_point(&checkpoint, resume)
                        )
                    })?,
            };
            match outcome {
                Ok(()) => report.imported += 1,
                Err(reason) => report.rejected.push(RejectedRow { line, reason }),
            }
        }
        // 3. The batch is complete: remember where to go on.
        write_checkpoint(&checkpoint, kind, size, last_line + 1)?;
        bar.set_position(rdr.position().byte());
        bar.set_message(format!(
            "imported {}, rejected {}",
            report.imported,
            report.rejected.len()
        ));
    }
    bar.finish_and_clear();
    match std::fs::remove_file(&checkpoint) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot delete {}", checkpoint.display()));
        }
    }
    Ok(report)
}

fn resume_point(checkpoint: &Path, resume: usize) -> String {
    std::fs::read_to_string(checkpoint)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v.get("nextLine").and_then(Value::as_u64))
        .map_or_else(|| resume.max(2).to_string(), |l| l.to_string())
}

/// A row converted to GraphQL-shaped input, or why it could not be.
type ParsedRow = Result<Map<String, Value>, String>;

/// Create one parsed row. `Ok(Err(reason))` is a rejected row; `Err` stops the import.
async fn create_row(
    crm: &Crm,
    p: &Principal,
    kind: ImportKind,
    mut input: Map<String, Value>,
    companies: &mut HashMap<String, Uuid>,
) -> anyhow::Result<Result<(), String>> {
    match kind {
        ImportKind::Companies => {
            let r = record::create::<Company>(crm, p, Value::Object(input)).await;
            Ok(verdict(r.map(|_| ()))?)
        }
        ImportKind::Contacts => {
            if let Some(Value::String(name)) = input.remove("company") {
                let id = match companies.get(&name) {
                    Some(id) => *id,
                    None => {
                        let r =
                            record::create::<Company>(crm, p, serde_json::json!({ "name": name }))
                                .await;
                        match verdict(r.map(|c| c.id))? {
                            Ok(id) => {
                                companies.insert(name, id);
                                id
                            }
                            Err(reason) => {
                                return Ok(Err(format!("company {name:?}: {reason}")));
                            }
                        }
                    }
                };
                input.insert("companyId".into(), id.to_string().into());
            }
            let r = record::create::<Contact>(crm, p, Value::Object(input)).await;
            Ok(verdict(r.map(|_| ()))?)
        }
    }
}

/// Split domain errors into "this row is bad" (`Ok(Err)`) and "stop" (`Err`).
fn verdict<T>(r: crm_core::error::Result<T>) -> anyhow::Result<Result<T, String>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(CoreError::Invalid(errs)) => Ok(Err(errs
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect::<Vec<_>>()
            .join("; "))),
        Err(
            e @ (CoreError::Conflict(_)
            | CoreError::PluginRejected(_)
            | CoreError::NotFound { .. }
            | CoreError::LimitExceeded(_)),
        ) => Ok(Err(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Every company name of the tenant → id (the oldest wins when names repeat).
async fn company_names(crm: &Crm, tenant: Uuid) -> anyhow::Result<HashMap<String, Uuid>> {
    let ids = record::all_ids(crm, tenant, "company").await?;
    let mut map = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut models = record::get_many::<Company>(crm, tenant, chunk).await?;
        models.sort_by_key(|m| m.id);
        for m in models {
            map.entry(m.name.trim().to_string()).or_insert(m.id);
        }
    }
    Ok(map)
}

/// Input fields a column can map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    FirstName,
    LastName,
    Email,
    Phone,
    Title,
    Company,
    Tags,
    LifecycleStage,
    BirthDate,
    Name,
    Domain,
    Industry,
    EmployeeCount,
    AnnualRevenue,
    Country,
    City,
}

impl Field {
    /// The GraphQL input key.
    fn key(self) -> &'static str {
        match self {
            Field::FirstName => "firstName",
            Field::LastName => "lastName",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Title => "title",
            Field::Company => "company",
            Field::Tags => "tags",
            Field::LifecycleStage => "lifecycleStage",
            Field::BirthDate => "birthDate",
            Field::Name => "name",
            Field::Domain => "domain",
            Field::Industry => "industry",
            Field::EmployeeCount => "employeeCount",
            Field::AnnualRevenue => "annualRevenue",
            Field::Country => "country",
            Field::City => "city",
        }
    }
}

/// (normalised header, field) per kind. Normalised: lower-case, only letters and digits.
const CONTACT_COLUMNS: &[(&str, Field)] = &[
    ("firstname", Field::FirstName),
    ("givenname", Field::FirstName),
    ("lastname", Field::LastName),
    ("surname", Field::LastName),
    ("familyname", Field::LastName),
    ("email", Field::Email),
    ("emailaddress", Field::Email),
    ("phone", Field::Phone),
    ("phonenumber", Field::Phone),
    ("mobile", Field::Phone),
    ("title", Field::Title),
    ("jobtitle", Field::Title),
    ("company", Field::Company),
    ("companyname", Field::Company),
    ("tags", Field::Tags),
    ("lifecyclestage", Field::LifecycleStage),
    ("lifecycle", Field::LifecycleStage),
    ("birthdate", Field::BirthDate),
    ("birthday", Field::BirthDate),
];

const COMPANY_COLUMNS: &[(&str, Field)] = &[
    ("name", Field::Name),
    ("companyname", Field::Name),
    ("domain", Field::Domain),
    ("website", Field::Domain),
    ("industry", Field::Industry),
    ("employeecount", Field::EmployeeCount),
    ("employees", Field::EmployeeCount),
    ("annualrevenue", Field::AnnualRevenue),
    ("revenue", Field::AnnualRevenue),
    ("phone", Field::Phone),
    ("phonenumber", Field::Phone),
    ("country", Field::Country),
    ("city", Field::City),
    ("tags", Field::Tags),
    ("lifecyclestage", Field::LifecycleStage),
    ("lifecycle", Field::LifecycleStage),
];

fn normalise_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Map the header line to fields; unknown, repeated or missing required columns stop the import.
fn map_headers(kind: ImportKind, headers: &csv::StringRecord) -> anyhow::Result<Vec<Field>> {
    let table = match kind {
        ImportKind::Contacts => CONTACT_COLUMNS,
        ImportKind::Companies => COMPANY_COLUMNS,
    };
    let mut fields = vec![];
    let mut unknown = vec![];
    for h in headers {
        let n = normalise_header(h);
        match table.iter().find(|(name, _)| *name == n) {
            Some((_, f)) => {
                if fields.contains(f) {
                    bail!("column {h:?} repeats {}: keep one of them", f.key());
                }
                fields.push(*f);
            }
            None => unknown.push(format!("{h:?}")),
        }
    }
    if !unknown.is_empty() {
        let mut known: Vec<&str> = table.iter().map(|(_, f)| f.key()).collect();
        known.dedup();
        bail!(
            "unknown column{} {} for {} (known: {})",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            kind.as_str(),
            known.join(", ")
        );
    }
    match kind {
        ImportKind::Contacts
            if !fields.contains(&Field::FirstName) && !fields.contains(&Field::LastName) =>
        {
            bail!("a contacts file needs a first_name or last_name column")
        }
        ImportKind::Companies if !fields.contains(&Field::Name) => {
            bail!("a companies file needs a name column")
        }
        _ => Ok(fields),
    }
}

/// Turn one CSV row into GraphQL-shaped input; empty cells are left out.
fn parse_row(columns: &[Field], row: &csv::StringRecord) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut errors = vec![];
    for (field, cell) in columns.iter().zip(row.iter()) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let value = match field {
            Field::Tags => Value::Array(
                cell.split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| Value::String(t.to_string()))
                    .collect(),
            ),
            Field::LifecycleStage => Value::String(cell.to_uppercase().replace([' ', '-'], "_")),
            Field::EmployeeCount => match number_text(cell).parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    errors.push(format!(
                        "input.employeeCount: {cell:?} is not a whole number"
                    ));
                    continue;
                }
            },
            Field::AnnualRevenue => match number_text(cell).parse::<f64>() {
                Ok(n) if n.is_finite() => Value::from(n),
                _ => {
                    errors.push(format!("input.annualRevenue: {cell:?} is not a number"));
                    continue;
                }
            },
            _ => Value::String(cell.to_string()),
        };
        out.insert(field.key().to_string(), value);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("; "))
    }
}

/// "1,200" / "1 200" / "1_200" → "1200".
fn number_text(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ',' | '_' | ' ' | '\u{a0}'))
        .collect()
}

fn read_checkpoint(path: &Path, kind: ImportKind, size: u64) -> anyhow::Result<Option<usize>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let v: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not an import checkpoint; delete it to start over",
            path.display()
        )
    })?;
    let next = v.get("nextLine").and_then(Value::as_u64);
    let same_kind = v.get("kind").and_then(Value::as_str) == Some(kind.as_str());
    let same_size = v.get("fileSize").and_then(Value::as_u64) == Some(size);
    match next {
        Some(n) if same_kind && same_size => Ok(Some(n as usize)),
        Some(_) if !same_kind => bail!(
            "{} belongs to an import of {}, not {}; delete it to start over",
            path.display(),
            v.get("kind").and_then(Value::as_str).unwrap_or("?"),
            kind.as_str()
        ),
        Some(_) => bail!(
            "the file changed since the interrupted import recorded in {}; delete it to start over",
            path.display()
        ),
        None => bail!(
            "{} is not an import checkpoint; delete it to start over",
            path.display()
        ),
    }
}

fn write_checkpoint(
    path: &Path,
    kind: ImportKind,
    size: u64,
    next_line: usize,
) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "kind": kind.as_str(),
        "fileSize": size,
        "nextLine": next_line,
    });
    // Write then rename, so an interruption never leaves half a checkpoint.
    let tmp = {
        let mut s = path.as_os_str().to_owned();
        s.push(".tmp");
        PathBuf::from(s)
    };
    std::fs::write(&tmp, body.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write checkpoint {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        crm: Crm,
        p: Principal,
        dir: PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn fixture() -> Fixture {
        let dir = std::env::temp_dir().join(format!("crm-import-test-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let crm = Crm::connect(&format!("sqlite://{}", dir.join("crm.db").display()))
            .await
            .expect("open test database");
        let (t, _) = crm_core::tenant::create_tenant(&crm, "Import Test", "CN")
            .await
            .expect("tenant");
        Fixture {
            crm,
            p: Principal::system(t.id),
            dir,
        }
    }

    fn write(f: &Fixture, name: &str, body: &str) -> PathBuf {
        let path = f.dir.join(name);
        std::fs::write(&path, body).expect("write csv");
        path
    }

    async fn contacts(f: &Fixture) -> Vec<crm_core::entity::contact::Model> {
        let ids = record::all_ids(&f.crm, f.p.tenant_id, "contact")
            .await
            .expect("ids");
        record::get_many::<Contact>(&f.crm, f.p.tenant_id, &ids)
            .await
            .expect("contacts")
    }

    #[tokio::test]
    async fn bad_row_is_reported_with_its_line_and_the_rest_is_imported() {
        let f = fixture().await;
        let path = write(
            &f,
            "people.csv",
            "First Name,last_name,E-mail,Phone,company,Tags,Lifecycle Stage\n\
             Wei,Zhang,zhang.wei@acme.example,138 0013 8000,Acme Electronics,vip; fleet,active\n\
             Na,Li,li.na@acme.example,,Acme Electronics,,\n\
             Bad,Row,x@,,,,\n\
             \"Emily, Jr.\",Carter,EMILY@Summit.example,+1 415 555 2671,Summit Inc.,,at risk\n",
        );
        let report = import(
            &f.crm,
            &f.p,
            ImportKind::Contacts,
            &path,
            ImportOptions::default(),
        )
        .await
        .expect("import");
        assert_eq!(report.imported, 3, "{report:?}");
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].line, 4);
        assert!(
            report.rejected[0].reason.starts_with("input.email: \"x@\""),
            "{}",
            report.rejected[0].reason
        );
        let text = render_report(&report);
        assert!(text.contains("line 4: input.email"), "{text}");

        let people = contacts(&f).await;
        assert_eq!(people.len(), 3);
        let wei = people
            .iter()
            .find(|c| c.first_name == "Wei")
            .expect("Wei imported");
        assert_eq!(wei.phone.as_deref(), Some("+8613800138000"));
        assert_eq!(wei.lifecycle_stage, "active");
        let emily = people
            .iter()
            .find(|c| c.last_name == "Carter")
            .expect("Carter imported");
        assert_eq!(emily.first_name, "Emily, Jr.");
        assert_eq!(emily.email.as_deref(), Some("emily@summit.example"));
        assert_eq!(emily.lifecycle_stage, "at_risk");
        // "Acme Electronics" was created once and shared; "Summit Inc." too.
        let companies = record::all_ids(&f.crm, f.p.tenant_id, "company")
            .await
            .expect("ids");
        assert_eq!(companies.len(), 2);
        assert_eq!(wei.company_id, people[1].company_id);
        assert!(!checkpoint_path(&path).exists());
    }

    #[tokio::test]
    async fn companies_with_bad_numbers_and_ragged_rows_are_rejected() {
        let f = fixture().await;
        let path = write(
            &f,
            "companies.csv",
            "name,domain,industry,employee_count,annual_revenue,country,city\n\
             Acme Electronics,acme.example,Electronics,\"1,200\",5000000,CN,Shenzhen\n\
             Broken Count,,,many,,CN,\n\
             Too Few Cells,x.example\n\
             ,nameless.example,,,,,\n",
        );
        let report = import(
            &f.crm,
            &f.p,
            ImportKind::Companies,
            &path,
            ImportOptions::default(),
        )
        .await
        .expect("import");
        assert_eq!(report.imported, 1, "{report:?}");
        let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(report.rejected[0].reason.contains("employeeCount"));
        assert!(report.rejected[1].reason.contains("cells"));
        assert!(report.rejected[2].reason.contains("input.name"));
    }

    #[tokio::test]
    async fn unknown_columns_stop_before_any_write() {
        let f = fixture().await;
        let path = write(&f, "x.csv", "first_name,shoe_size\nWei,42\n");
        let err = import(
            &f.crm,
            &f.p,
            ImportKind::Contacts,
            &path,
            ImportOptions::default(),
        )
        .await
        .expect_err("unknown column");
        assert!(err.to_string().contains("shoe_size"), "{err}");
        assert!(contacts(&f).await.is_empty());
    }

    #[tokio::test]
    async fn resume_skips_completed_batches() {
        let f = fixture().await;
        let mut body = String::from("first_name,last_name\n");
        for i in 0..5 {
            body.push_str(&format!("P{i},Person\n"));
        }
        // Data rows are lines 2..=6; batches of 2: [2,3] [4,5] [6].
        let path = write(&f, "people.csv", &body);
        let size = std::fs::metadata(&path).expect("meta").len();
        // An earlier run completed the first batch and was interrupted.
        write_checkpoint(&checkpoint_path(&path), ImportKind::Contacts, size, 4).expect("ckpt");
        let opts = ImportOptions {
            batch_size: 2,
            ..ImportOptions::default()
        };
        let report = import(&f.crm, &f.p, ImportKind::Contacts, &path, opts.clone())
            .await
            .expect("import");
        assert_eq!(report.skipped_batches, 1);
        assert_eq!(report.imported, 3);
        let mut names: Vec<String> = contacts(&f)
            .await
            .into_iter()
            .map(|c| c.first_name)
            .collect();
        names.sort();
        assert_eq!(names, vec!["P2", "P3", "P4"]);
        assert!(
            !checkpoint_path(&path).exists(),
            "checkpoint removed when done"
        );

        // An explicit resume line overrides (there is no checkpoint any more).
        let report = import(
            &f.crm,
            &f.p,
            ImportKind::Contacts,
            &path,
            ImportOptions {
                resume_from_line: Some(6),
                ..opts.clone()
            },
        )
        .await
        .expect("import");
        assert_eq!((report.skipped_batches, report.imported), (2, 1));

        // A checkpoint for a different file content is refused.
        write_checkpoint(&checkpoint_path(&path), ImportKind::Contacts, size + 1, 4).expect("ckpt");
        let err = import(&f.crm, &f.p, ImportKind::Contacts, &path, opts)
            .await
            .expect_err("stale checkpoint");
        assert!(err.to_string().contains("delete it"), "{err}");
    }

    #[tokio::test]
    async fn fatal_errors_keep_the_checkpoint_at_the_interrupted_batch() {
        let f = fixture().await;
        let path = write(&f, "people.csv", "last_name\nA\nB\nC\n");
        let mut reader = f.p.clone();
        reader.role = crm_core::Role::ReadOnly;
        let err = import(
            &f.crm,
            &reader,
            ImportKind::Contacts,
            &path,
            ImportOptions {
                batch_size: 2,
                ..ImportOptions::default()
            },
        )
        .await
        .expect_err("forbidden");
        assert!(err.to_string().contains("line 2"), "{err:#}");
        assert!(!checkpoint_path(&path).exists(), "no batch was completed");
    }

    #[test]
    fn headers_map_case_insensitively() {
        for h in ["first_name", "firstName", "First Name", "FIRST-NAME"] {
            assert_eq!(normalise_header(h), "firstname");
        }
        let rec = csv::StringRecord::from(vec!["\u{feff}Last Name", "Company"]);
        let fields = map_headers(ImportKind::Contacts, &rec).expect("headers");
        assert_eq!(fields, vec![Field::LastName, Field::Company]);
        let rec = csv::StringRecord::from(vec!["email", "company"]);
        assert!(map_headers(ImportKind::Contacts, &rec).is_err());
    }

    #[test]
    fn report_lists_every_rejected_row() {
        let r = ImportReport {
            imported: 10,
            rejected: vec![RejectedRow {
                line: 17,
                reason: "input.email: \"x@\" is not a valid e-mail".into(),
            }],
            skipped_batches: 1,
        };
        assert_eq!(
            render_report(&r),
            "imported 10 rows, rejected 1, skipped 1 batch completed by an earlier run\n\
             rejected rows:\nline 17: input.email: \"x@\" is not a valid e-mail"
        );
    }
}
