//! Inspects a model directory into a [`ModelDef`]: which file is the primary
//! source, which functions it tags, its schemas, platform and attachments, and
//! a content hash that stays the same as long as no file (or the name) changes.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::{self, ArchiveLimits};
use crate::error::{Error, Result};
use crate::manifest::{Loaded, MANIFEST_FILE};
use crate::tags::{self, Kind, Scan, SchemaTag};

/// What a model directory holds, as Keel registers it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ModelDef {
    /// The model's name: `keel.toml`'s `name`, else the directory's name (sanitised to `[A-Za-z0-9_.-]`).
    pub name: String,
    /// The relative path of the primary `.py` file.
    pub source: String,
    /// The primary file's Python module name (its file stem).
    pub module: String,
    /// The model's functions; [`inspect`] finds at least one of score,
    /// metrics and train (a ModelOp monitor has only init and metrics).
    pub functions: Functions,
    /// The relative path of the input Avro schema, if any.
    pub input_schema: Option<String>,
    /// The relative path of the output Avro schema, if any.
    pub output_schema: Option<String>,
    /// The column a score function's bare values (a float, a string, a numpy
    /// scalar) are written to, from `keel.toml`'s `[schemas] output_column`;
    /// when unset, the output schema's name, else `prediction`.
    #[serde(default)]
    pub output_column: Option<String>,
    /// The Python requirements and version the model needs.
    pub platform: Platform,
    /// Every file of the model, sorted by path.
    pub files: Vec<FileEntry>,
    /// A sha256 over the name and the sorted (path, sha256) list: an unchanged
    /// directory always gets the same hash, so registering it again creates no new version.
    pub content_hash: String,
    /// For a model Keel serves through one of its own adapters (an MLflow
    /// model): what it found, and the adapter's configuration.
    #[serde(default)]
    pub adapter: Option<Adapter>,
    /// Files Keel made from what it found (the Avro schemas an MLflow
    /// signature gives), with their text. They are among `files` and become
    /// files of the version: registration writes them from here.
    #[serde(skip)]
    pub generated: Vec<(String, String)>,
}

/// A model served through an adapter Keel ships (today: `keel_mlflow.py`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Adapter {
    /// Which adapter: `mlflow`.
    pub kind: String,
    /// What Keel found, as `keel model inspect` shows it.
    pub summary: String,
    /// What Keel left out or changed, one sentence each.
    pub notes: Vec<String>,
    /// The adapter's configuration, as JSON text (passed to the worker).
    pub config: String,
}

/// The model's functions, found by smart tags or named in `keel.toml`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Functions {
    /// Called once before any other function (`# modelop.init`).
    pub init: Option<FunctionInfo>,
    /// Called per record, or per DataFrame in batch mode (`# modelop.score`).
    pub score: Option<FunctionInfo>,
    /// Called once with all records as a DataFrame (`# modelop.metrics`).
    pub metrics: Option<FunctionInfo>,
    /// Called once with all records as a DataFrame to train a new version (`# modelop.train`).
    pub train: Option<FunctionInfo>,
}

impl Functions {
    /// The function of this kind, if the model has one.
    pub fn get(&self, kind: Kind) -> Option<&FunctionInfo> {
        match kind {
            Kind::Init => self.init.as_ref(),
            Kind::Score => self.score.as_ref(),
            Kind::Metrics => self.metrics.as_ref(),
            Kind::Train => self.train.as_ref(),
        }
    }

    fn slot(&mut self, kind: Kind) -> &mut Option<FunctionInfo> {
        match kind {
            Kind::Init => &mut self.init,
            Kind::Score => &mut self.score,
            Kind::Metrics => &mut self.metrics,
            Kind::Train => &mut self.train,
        }
    }
}

/// One model function.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The Python function name.
    pub name: String,
    /// The relative path of the file defining it (the primary source).
    pub file: String,
    /// The 1-based line of its `def`.
    pub line: u32,
    /// For score only: true when it takes a whole DataFrame instead of one record.
    pub batch: bool,
    /// Its parameter names, in order (without `*` or `**`).
    pub params: Vec<String>,
}

/// The Python environment a model needs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// The relative path of the requirements file, if any.
    pub requirements_file: Option<String>,
    /// Its requirement lines, normalised (comments and blank lines dropped, spaces collapsed), in file order.
    pub requirements: Vec<String>,
    /// The Python version from `keel.toml` (such as `3.11`), if given.
    pub python_version: Option<String>,
    /// sha256 over the version and the sorted requirements: models with equal
    /// hashes can share one virtual environment.
    pub hash: String,
}

/// One file of a model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The path relative to the model directory, `/`-separated.
    pub path: String,
    /// The lowercase hex sha256 of its contents.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// What the file is to the model.
    pub role: FileRole,
}

/// What a file is to the model.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FileRole {
    /// A Python source file (the primary source or a module beside it).
    Source,
    /// Anything the model reads at run time (a pickle, a CSV, an archive).
    Attachment,
    /// The input or output Avro schema.
    Schema,
    /// The `keel.toml` manifest.
    Manifest,
    /// The requirements file.
    Requirements,
}

/// Names skipped anywhere in a model directory: caches, VCS data, OS litter and Keel's own data dir.
const SKIP_NAMES: &[&str] = &[
    "__pycache__",
    ".git",
    ".ipynb_checkpoints",
    ".DS_Store",
    ".keel",
];

const DEFAULT_INPUT_SCHEMA: &str = "input_schema.avsc";
const DEFAULT_OUTPUT_SCHEMA: &str = "output_schema.avsc";
const DEFAULT_REQUIREMENTS: &str = "requirements.txt";

/// A file found in the directory or given with `--attach`.
pub(crate) struct Found {
    pub(crate) rel: String,
    pub(crate) abs: PathBuf,
    pub(crate) size: u64,
    pub(crate) extra: bool,
}

/// Lists every regular file below `root`, refusing links and other special files.
pub(crate) fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<Found>) -> Result<()> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("list the directory", dir, e))? {
        entries.push(entry.map_err(|e| Error::io("list the directory", dir, e))?);
    }
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().into_string().map_err(|raw| {
            Error::invalid(format!(
                "The file name {:?} in {} is not valid UTF-8; rename it using UTF-8 characters.",
                raw,
                dir.display()
            ))
        })?;
        if SKIP_NAMES.contains(&name.as_str()) || name.ends_with(".pyc") {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if name.contains('\\') || name.chars().any(char::is_control) {
            return Err(Error::invalid(format!(
                "The file name '{rel}' contains a backslash or a control character, which Keel cannot store portably; rename it."
            )));
        }
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|e| Error::io("inspect", &path, e))?;
        if file_type.is_symlink() {
            return Err(Error::invalid(format!(
                "{rel} in the model directory {} is a symbolic link; Keel does not follow links. Replace it with the file it points to, or attach that file with --attach.",
                root.display()
            )));
        } else if file_type.is_dir() {
            walk(root, &path, &rel, out)?;
        } else if file_type.is_file() {
            let size = entry
                .metadata()
                .map_err(|e| Error::io("inspect", &path, e))?
                .len();
            out.push(Found {
                rel,
                abs: path,
                size,
                extra: false,
            });
        } else {
            return Err(Error::invalid(format!(
                "{rel} in the model directory {} is not a regular file (a device, FIFO or socket); remove it.",
                root.display()
            )));
        }
    }
    Ok(())
}

/// The lowercase hex sha256 of a file, read in chunks so large attachments never sit in memory.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Turns a directory name into a valid model name.
pub(crate) fn sanitize_name(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut name: String = trimmed.chars().take(128).collect();
    if name.is_empty() {
        name = "model".to_string();
    }
    name
}

/// Normalises requirement lines: joins backslash continuations, drops comments
/// (a line starting with `#`, or `#` after whitespace) and blank lines, and collapses spaces.
pub(crate) fn parse_requirements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        if let Some(head) = raw.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(raw);
        let line = std::mem::take(&mut pending);
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
                cut = i;
                break;
            }
        }
        let normalised = line[..cut].split_whitespace().collect::<Vec<_>>().join(" ");
        if !normalised.is_empty() {
            out.push(normalised);
        }
    }
    let tail = pending.split_whitespace().collect::<Vec<_>>().join(" ");
    if !tail.is_empty() && !tail.starts_with('#') {
        out.push(tail);
    }
    out
}

pub(crate) fn platform_hash(python: Option<&str>, requirements: &[String]) -> String {
    let mut sorted: Vec<&str> = requirements.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut h = Sha256::new();
    h.update(format!("python={}\n", python.unwrap_or("")));
    for r in sorted {
        h.update(r.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn valid_python_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn content_hash(name: &str, files: &[FileEntry]) -> String {
    // Length-prefixing every field keeps distinct lists from hashing the same.
    fn put(h: &mut Sha256, bytes: &[u8]) {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let mut h = Sha256::new();
    put(&mut h, b"keel-modeldef content v1");
    put(&mut h, name.as_bytes());
    for f in files {
        put(&mut h, f.path.as_bytes());
        put(&mut h, f.sha256.as_bytes());
    }
    hex::encode(h.finalize())
}

fn no_function_error(dir: &Path, py_files: &[String]) -> Error {
    let what = if py_files.is_empty() {
        "it holds no .py file at its top level".to_string()
    } else {
        format!(
            "none of its top-level Python files ({}) has a score, metrics or train smart tag",
            py_files.join(", ")
        )
    };
    Error::invalid(format!(
        "No model function found in the model directory {}: {what}. Tag the function Keel calls for each record with a comment on the line directly above its def, like this:\n\n    # modelop.score\n    def score(record):\n        return record\n\n(a monitor tags its metrics function with # modelop.metrics instead), or name it in keel.toml under [functions] as score = \"...\".",
        dir.display()
    ))
}

/// Inspects a model directory: finds the primary source and its smart-tagged (or
/// `keel.toml`-named) functions, parses the Avro schemas, reads the platform,
/// hashes every file and checks every archive attachment. `extra_attachments`
/// (from `--attach`) join the files at the top level under their file names.
pub fn inspect(dir: &Path, extra_attachments: &[PathBuf]) -> Result<ModelDef> {
    let meta = fs::metadata(dir).map_err(|e| Error::io("open the model directory", dir, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!(
            "{} is not a directory; pass the directory that holds the model's Python source.",
            dir.display()
        )));
    }
    let mut found = Vec::new();
    walk(dir, dir, "", &mut found)?;
    for path in extra_attachments {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "The attachment {} has no usable file name; pass a file with a UTF-8 name.",
                    path.display()
                ))
            })?
            .to_string();
        let m = fs::metadata(path).map_err(|e| Error::io("open the attachment", path, e))?;
        if !m.is_file() {
            return Err(Error::invalid(format!(
                "The attachment {} is not a regular file; attach files one by one (or as an archive).",
                path.display()
            )));
        }
        if found.iter().any(|f| f.rel == name) {
            return Err(Error::invalid(format!(
                "The attachment {} would be stored as '{name}', but the model already has a file of that name; rename one of them.",
                path.display()
            )));
        }
        found.push(Found {
            rel: name,
            abs: path.clone(),
            size: m.len(),
            extra: true,
        });
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    // An MLflow model directory needs no Keel-specific file: Keel serves it
    // through its MLflow adapter.
    if let Some(m) = crate::mlflow::detect(dir)? {
        return crate::mlflow::definition::build(dir, &m, &found);
    }
    let own = |rel: &str| found.iter().find(|f| !f.extra && f.rel == rel);

    let loaded = match own(MANIFEST_FILE) {
        Some(f) => Some(Loaded::parse(&read_text(&f.abs)?)?),
        None => None,
    };
    let manifest = loaded.as_ref().map(|l| &l.manifest);

    // Smart tags are looked for in the top-level Python files only: the primary
    // source must be importable as a module from the working directory.
    let mut scans: Vec<(String, Scan)> = Vec::new();
    for f in found
        .iter()
        .filter(|f| !f.extra && !f.rel.contains('/') && f.rel.ends_with(".py"))
    {
        let text = read_text(&f.abs)?;
        scans.push((f.rel.clone(), tags::scan(&f.rel, &text)?));
    }
    let py_files: Vec<String> = scans.iter().map(|(r, _)| r.clone()).collect();

    let manifest_source = match (loaded.as_ref(), manifest.and_then(|m| m.source.as_ref())) {
        (Some(l), Some(src)) => {
            let rel = l.rel_path("source", src)?;
            if rel.contains('/') || !rel.ends_with(".py") {
                return Err(l.error(
                    src,
                    format!(
                        "source = \"{rel}\" must name a .py file at the top of the model directory."
                    ),
                ));
            }
            if !py_files.contains(&rel) {
                return Err(l.error(
                    src,
                    format!("source = \"{rel}\" names a file that is not in the model directory; add the file or fix the name."),
                ));
            }
            Some(rel)
        }
        _ => None,
    };
    let primary = match &manifest_source {
        Some(rel) => rel.clone(),
        None => choose_primary(dir, &scans, loaded.as_ref())?,
    };
    let scan = scans
        .iter()
        .find(|(r, _)| *r == primary)
        .map(|(_, s)| s)
        .ok_or_else(|| no_function_error(dir, &py_files))?;
    if manifest_source.is_none() {
        // Without a manifest choosing the primary file, a tag elsewhere would be silently ignored.
        for (rel, other) in scans.iter().filter(|(r, _)| *r != primary) {
            if let Some(tag) = other.tags.first() {
                return Err(Error::Source {
                    file: rel.clone(),
                    line: tag.line,
                    message: format!(
                        "This '{}' smart tag is in a helper module, but Keel calls only functions of the primary source {primary}. Move the function (or a tagged wrapper that calls it) to {primary}.",
                        tag.kind.as_str()
                    ),
                });
            }
        }
    }

    let mut functions = Functions::default();
    let score_batch = manifest.and_then(|m| m.functions.score_batch);
    for kind in Kind::ALL {
        let named = manifest.and_then(|m| m.functions.get(kind));
        let info = match (loaded.as_ref(), named) {
            (Some(l), Some(name)) => {
                let def = scan.def(name.get_ref()).ok_or_else(|| {
                    l.error(
                        name,
                        format!(
                            "[functions] {} = \"{}\" names a function that {primary} does not define at module level. Add 'def {}(...):' to {primary} or fix the name.",
                            kind.as_str(),
                            name.get_ref(),
                            name.get_ref()
                        ),
                    )
                })?;
                let tagged_batch = scan
                    .tag(kind)
                    .is_some_and(|t| t.def.name == def.name && t.batch);
                Some((def.clone(), tagged_batch || def.takes_dataframe()))
            }
            _ => scan
                .tag(kind)
                .map(|t| (t.def.clone(), t.batch || t.def.takes_dataframe())),
        };
        if let Some((def, detected)) = info {
            let batch = kind == Kind::Score && score_batch.unwrap_or(detected);
            *functions.slot(kind) = Some(FunctionInfo {
                name: def.name,
                file: primary.clone(),
                line: def.line,
                batch,
                params: def.params,
            });
        }
    }
    if Kind::ALL
        .iter()
        .all(|k| *k == Kind::Init || functions.get(*k).is_none())
    {
        return Err(no_function_error(dir, &py_files));
    }

    let schema_default = |slot: u32, default: &str| -> Result<Option<String>> {
        match scan.schema(slot) {
            Some(tag) => tagged_file(&primary, tag, &found).map(Some),
            None => Ok(found
                .iter()
                .any(|f| !f.extra && f.rel == default)
                .then(|| default.to_string())),
        }
    };
    let input_schema = match manifest.and_then(|m| m.schemas.input.as_ref()) {
        Some(named) => named_file(loaded.as_ref(), named, "schemas.input", &found)?,
        None => schema_default(0, DEFAULT_INPUT_SCHEMA)?,
    };
    let output_schema = match manifest.and_then(|m| m.schemas.output.as_ref()) {
        Some(named) => named_file(loaded.as_ref(), named, "schemas.output", &found)?,
        None => schema_default(1, DEFAULT_OUTPUT_SCHEMA)?,
    };
    let output_column = match (
        loaded.as_ref(),
        manifest.and_then(|m| m.schemas.output_column.as_ref()),
    ) {
        (Some(l), Some(c)) => {
            let column = c.get_ref().trim();
            if column.is_empty() || column.chars().any(char::is_control) {
                return Err(l.error(
                    c,
                    "[schemas] output_column must name a column, such as \"prediction\".",
                ));
            }
            Some(column.to_string())
        }
        _ => None,
    };
    for rel in input_schema.iter().chain(output_schema.iter()) {
        if let Some(f) = own(rel) {
            let text = read_text(&f.abs)?;
            keel_data::AvroSchema::parse(&text, rel).map_err(|source| Error::Schema {
                file: rel.clone(),
                source,
            })?;
        }
    }

    let requirements_file = schema_path(
        loaded.as_ref(),
        manifest.and_then(|m| m.platform.requirements.as_ref()),
        "platform.requirements",
        DEFAULT_REQUIREMENTS,
        &found,
    )?;
    let requirements = match requirements_file.as_deref().and_then(own) {
        Some(f) => parse_requirements(&read_text(&f.abs)?),
        None => Vec::new(),
    };
    let python_version = match (
        loaded.as_ref(),
        manifest.and_then(|m| m.platform.python.as_ref()),
    ) {
        (Some(l), Some(v)) => {
            let version = v.get_ref().trim().to_string();
            if !valid_python_version(&version) {
                return Err(l.error(
                    v,
                    format!("[platform] python = \"{version}\" is not a Python version; write it like \"3.11\"."),
                ));
            }
            Some(version)
        }
        _ => None,
    };
    let platform = Platform {
        hash: platform_hash(python_version.as_deref(), &requirements),
        requirements_file: requirements_file.clone(),
        requirements,
        python_version,
    };

    let files = file_entries(&found, |f| {
        let is = |p: &Option<String>| p.as_deref() == Some(f.rel.as_str());
        if f.rel == MANIFEST_FILE && loaded.is_some() {
            Some(FileRole::Manifest)
        } else if is(&requirements_file) {
            Some(FileRole::Requirements)
        } else if is(&input_schema) || is(&output_schema) {
            Some(FileRole::Schema)
        } else {
            None
        }
    })?;

    let name = match (loaded.as_ref(), manifest.and_then(|m| m.name.as_ref())) {
        (Some(l), Some(n)) => {
            keel_types::valid_name(n.get_ref()).map_err(|why| {
                l.error(
                    n,
                    format!(
                        "name = \"{}\" is not a valid model name: {why}.",
                        n.get_ref()
                    ),
                )
            })?;
            n.get_ref().clone()
        }
        _ => {
            let canonical = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            sanitize_name(
                &canonical
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        }
    };
    let module = primary.strip_suffix(".py").unwrap_or(&primary).to_string();
    Ok(ModelDef {
        content_hash: content_hash(&name, &files),
        name,
        source: primary,
        module,
        functions,
        input_schema,
        output_schema,
        output_column,
        platform,
        files,
        adapter: None,
        generated: Vec::new(),
    })
}

impl ModelDef {
    /// Writes the files Keel made for the model (see `generated`) under
    /// `into`, and returns each one's path and where it now is, so that
    /// registration can store them like the directory's own files.
    pub fn write_generated(&self, into: &Path) -> Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::with_capacity(self.generated.len());
        for (rel, text) in &self.generated {
            let path = into.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| Error::io("create the directory", parent, e))?;
            }
            fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
            out.push((rel.clone(), path));
        }
        Ok(out)
    }

    /// The same definition under another model name, with the content hash
    /// that name gives. Training registers the staged directory under the
    /// model's name, so retraining that reproduces every file finds the
    /// version it reproduces.
    pub fn with_name(mut self, name: &str) -> ModelDef {
        self.name = name.to_string();
        self.content_hash = content_hash(&self.name, &self.files);
        self
    }
}

/// The file a schema tag names, which must be in the model directory.
fn tagged_file(primary: &str, tag: &SchemaTag, found: &[Found]) -> Result<String> {
    let slot = if tag.slot == 0 { "input" } else { "output" };
    let err = |why: &str| Error::Source {
        file: primary.to_string(),
        line: tag.line,
        message: format!(
            "The schema tag for the {slot} (slot {}) names '{}', which {why}.",
            tag.slot, tag.file
        ),
    };
    let parts: Vec<&str> = tag
        .file
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if tag.file.starts_with('/') || tag.file.contains('\\') || parts.contains(&"..") {
        return Err(err(
            "is not a relative path inside the model directory; write it with '/' and without '..'",
        ));
    }
    let rel = parts.join("/");
    if !found.iter().any(|f| !f.extra && f.rel == rel) {
        return Err(err(
            "is not in the model directory; add the file or fix the tag",
        ));
    }
    Ok(rel)
}

/// Hashes every found file into an entry with its role: the one `special`
/// gives, else a source for `.py` files, else an attachment (an `--attach`
/// file is always one). Archive attachments are checked here, so a bad one
/// fails registration rather than every job.
pub(crate) fn file_entries(
    found: &[Found],
    special: impl Fn(&Found) -> Option<FileRole>,
) -> Result<Vec<FileEntry>> {
    let limits = ArchiveLimits::default();
    let mut files = Vec::with_capacity(found.len());
    // Every path a job's working directory will hold, with what puts it
    // there: a model file, or an archive's entry.
    let mut placed: HashMap<String, Option<&str>> =
        found.iter().map(|f| (f.rel.clone(), None)).collect();
    for f in found {
        let role = match special(f) {
            _ if f.extra => FileRole::Attachment,
            Some(role) => role,
            None if f.rel.ends_with(".py") => FileRole::Source,
            None => FileRole::Attachment,
        };
        if role == FileRole::Attachment && archive::is_archive(&f.rel) {
            let entries = archive::check_archive_named(&f.abs, &f.rel, &limits)?;
            let base = f.rel.rsplit_once('/').map(|(dir, _)| dir);
            for entry in entries {
                let at = match base {
                    Some(dir) => format!("{dir}/{entry}"),
                    None => entry.clone(),
                };
                if let Some(owner) = placed.get(&at) {
                    let reason = match owner {
                        None => format!(
                            "would be extracted to '{at}', which is one of the model's own files; \
                             rename the entry or the file"
                        ),
                        Some(other) => format!(
                            "would be extracted to '{at}', where the archive '{other}' also \
                             extracts a file; keep one of them"
                        ),
                    };
                    return Err(Error::UnsafeArchive {
                        archive: f.rel.clone(),
                        entry,
                        reason,
                    });
                }
                placed.insert(at, Some(&f.rel));
            }
        }
        files.push(FileEntry {
            path: f.rel.clone(),
            sha256: sha256_file(&f.abs)?,
            size: f.size,
            role,
        });
    }
    Ok(files)
}

/// Picks the primary source when `keel.toml` does not: the one file with a
/// score tag, else the one file tagging a metrics or train function (a
/// monitor), else the one file defining the manifest's score function.
fn choose_primary(dir: &Path, scans: &[(String, Scan)], loaded: Option<&Loaded>) -> Result<String> {
    let mut tagged: Vec<(&String, u32)> = scans
        .iter()
        .filter_map(|(r, s)| s.tag(Kind::Score).map(|t| (r, t.line)))
        .collect();
    if tagged.is_empty() {
        tagged = scans
            .iter()
            .filter(|(_, s)| s.has_model_function())
            .filter_map(|(r, s)| {
                s.tags
                    .iter()
                    .find(|t| t.kind != Kind::Init)
                    .map(|t| (r, t.line))
            })
            .collect();
    }
    let py_files: Vec<String> = scans.iter().map(|(r, _)| r.clone()).collect();
    match tagged.as_slice() {
        [(rel, _)] => return Ok((*rel).clone()),
        [] => {}
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|(r, l)| format!("{r} (line {l})"))
                .collect();
            return Err(Error::invalid(format!(
                "Several files have model smart tags: {}. Keel cannot tell which is the model's primary source; pick one with source = \"{}\" in keel.toml, or remove the other tags.",
                list.join(", "),
                many[0].0
            )));
        }
    }
    if let Some(l) = loaded
        && let Some(name) = l.manifest.functions.get(Kind::Score)
    {
        let defining: Vec<&String> = scans
            .iter()
            .filter(|(_, s)| s.def(name.get_ref()).is_some())
            .map(|(r, _)| r)
            .collect();
        return match defining.as_slice() {
            [rel] => Ok((*rel).clone()),
            [] => Err(l.error(
                name,
                format!(
                    "[functions] score = \"{}\" names a function that no top-level .py file defines. Add 'def {}(record):' or fix the name.",
                    name.get_ref(),
                    name.get_ref()
                ),
            )),
            many => Err(l.error(
                name,
                format!(
                    "[functions] score = \"{}\" is defined in several files ({}); pick the primary one with source = \"...\" in keel.toml.",
                    name.get_ref(),
                    many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        };
    }
    Err(no_function_error(dir, &py_files))
}

/// Resolves a file the manifest may name (`key`), else a default name at the top level if present.
fn schema_path(
    loaded: Option<&Loaded>,
    named: Option<&toml::Spanned<String>>,
    key: &str,
    default: &str,
    found: &[Found],
) -> Result<Option<String>> {
    match named {
        Some(value) => named_file(loaded, value, key, found),
        None => Ok(found
            .iter()
            .any(|f| !f.extra && f.rel == default)
            .then(|| default.to_string())),
    }
}

/// The file the manifest's `key` names, which must be in the model directory.
fn named_file(
    loaded: Option<&Loaded>,
    value: &toml::Spanned<String>,
    key: &str,
    found: &[Found],
) -> Result<Option<String>> {
    let Some(l) = loaded else {
        return Ok(None);
    };
    let rel = l.rel_path(key, value)?;
    if !found.iter().any(|f| !f.extra && f.rel == rel) {
        return Err(l.error(
            value,
            format!("{key} = \"{rel}\" names a file that is not in the model directory; add the file or fix the path."),
        ));
    }
    Ok(Some(rel))
}

/// Where a file of a just-inspected model lives on disk: an `--attach` file's
/// own path for attachments given that way, else `dir/path`.
pub fn file_origin(dir: &Path, extra_attachments: &[PathBuf], path: &str) -> PathBuf {
    if !path.contains('/')
        && let Some(extra) = extra_attachments
            .iter()
            .find(|p| p.file_name().and_then(|n| n.to_str()) == Some(path))
    {
        return extra.clone();
    }
    dir.join(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_are_normalised() {
        let text = "# pinned\npandas >= 2.0   # data\n\nscikit-learn==1.5 \\\n  --hash=sha256:abc\nurl#frag\n  numpy\n";
        assert_eq!(
            parse_requirements(text),
            vec![
                "pandas >= 2.0",
                "scikit-learn==1.5 --hash=sha256:abc",
                "url#frag",
                "numpy"
            ]
        );
    }

    #[test]
    fn platform_hash_ignores_order_but_not_version() {
        let a = platform_hash(Some("3.11"), &["b".into(), "a".into()]);
        let b = platform_hash(Some("3.11"), &["a".into(), "b".into(), "a".into()]);
        let c = platform_hash(Some("3.12"), &["a".into(), "b".into()]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize_name("fraud model (v2)"), "fraud_model__v2_");
        assert_eq!(sanitize_name("_hidden"), "hidden");
        assert_eq!(sanitize_name("..."), "model");
        assert!(keel_types::valid_name(&sanitize_name("ünïcode")).is_ok());
    }

    #[test]
    fn python_versions_are_checked() {
        assert!(valid_python_version("3"));
        assert!(valid_python_version("3.11"));
        assert!(valid_python_version("3.11.4"));
        assert!(!valid_python_version("3.x"));
        assert!(!valid_python_version("python3"));
        assert!(!valid_python_version("3..1"));
    }

    #[test]
    fn file_origin_prefers_extra_attachments() {
        let extra = vec![PathBuf::from("/elsewhere/big.bin")];
        assert_eq!(
            file_origin(Path::new("m"), &extra, "big.bin"),
            PathBuf::from("/elsewhere/big.bin")
        );
        assert_eq!(
            file_origin(Path::new("m"), &extra, "sub/big.bin"),
            PathBuf::from("m/sub/big.bin")
        );
    }
}
