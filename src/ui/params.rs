//! The Chain pane's rows, generic over every module: a module's settings
//! are read through its TOML form (the same names and units as the chain
//! file), changed there, and parsed back through the chain's own validation,
//! so a value out of range is refused with the range the file format states.

use crate::session::chain::ModuleConfig;

/// Where a value sits inside a module's TOML table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// A top-level key.
    Key(String),
    /// Key of entry `n` of an array of tables (EQ bands).
    Nested(String, usize, String),
}

impl Path {
    /// The parameter's own name (its unit is in it: `_db`, `_hz`, `_ms` …).
    pub fn leaf(&self) -> &str {
        match self {
            Path::Key(k) | Path::Nested(_, _, k) => k,
        }
    }

    /// How the row is labelled.
    pub fn label(&self) -> String {
        match self {
            Path::Key(k) => k.clone(),
            Path::Nested(a, n, k) => format!("{a} {} {k}", n + 1),
        }
    }
}

/// A module's parameter as the Chain pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Where it is.
    pub path: Path,
    /// Current value.
    pub value: toml::Value,
}

fn table(m: &ModuleConfig) -> toml::Table {
    toml::Table::try_from(m).unwrap_or_default()
}

/// The editable parameters of `m`, in the order the chain file lists them
/// (`type` and `bypass` are shown on the module's own row).
pub fn params(m: &ModuleConfig) -> Vec<Param> {
    let mut out = Vec::new();
    for (k, v) in table(m) {
        if k == "type" || k == "bypass" {
            continue;
        }
        match v {
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(t) = item {
                        for (kk, vv) in t {
                            out.push(Param {
                                path: Path::Nested(k.clone(), i, kk.clone()),
                                value: vv.clone(),
                            });
                        }
                    }
                }
            }
            toml::Value::Table(_) => {}
            v => out.push(Param {
                path: Path::Key(k),
                value: v,
            }),
        }
    }
    out
}

fn get(t: &toml::Table, p: &Path) -> Option<toml::Value> {
    match p {
        Path::Key(k) => t.get(k).cloned(),
        Path::Nested(a, n, k) => t.get(a)?.as_array()?.get(*n)?.as_table()?.get(k).cloned(),
    }
}

fn set(t: &mut toml::Table, p: &Path, v: toml::Value) -> bool {
    match p {
        Path::Key(k) => {
            t.insert(k.clone(), v);
            true
        }
        Path::Nested(a, n, k) => {
            let Some(toml::Value::Array(items)) = t.get_mut(a) else {
                return false;
            };
            let Some(toml::Value::Table(item)) = items.get_mut(*n) else {
                return false;
            };
            item.insert(k.clone(), v);
            true
        }
    }
}

/// `m` with the value at `p` replaced, validated as the chain file would
/// be; the error names the parameter and its allowed range.
pub fn with_value(m: &ModuleConfig, p: &Path, v: toml::Value) -> Result<ModuleConfig, String> {
    let mut t = table(m);
    if !set(&mut t, p, v) {
        return Err(format!("{}: no such parameter", p.label()));
    }
    toml::Value::Table(t)
        .try_into::<ModuleConfig>()
        .map_err(|e| {
            let msg = e.to_string();
            let first = msg.lines().find(|l| !l.trim().is_empty()).unwrap_or(&msg);
            first.trim().to_string()
        })
}

/// The value at `p` in `m`.
pub fn value(m: &ModuleConfig, p: &Path) -> Option<toml::Value> {
    get(&table(m), p)
}

/// Words a text setting may take (tried in turn; the chain's validation
/// keeps the ones that fit the parameter).
const CHOICES: [&str; 14] = [
    "stereo",
    "mid",
    "side",
    "mid-side",
    "bell",
    "low-shelf",
    "high-shelf",
    "high-pass",
    "low-pass",
    "linear",
    "minimum",
    "equal-power",
    "exponential",
    "off",
];

/// The next step of a value: `dir` −1/+1, `fine` for small steps. Numbers
/// step by their unit (dB: 1 or 0.1; Hz: a third or a 24th of an octave;
/// ms and Q: ×1.25 or ×1.05; percent: 10 or 1; ratio 0.5 or 0.1); flags
/// toggle; words cycle through the ones the parameter accepts.
pub fn step(m: &ModuleConfig, p: &Path, dir: i32, fine: bool) -> Result<ModuleConfig, String> {
    let cur = value(m, p).ok_or_else(|| format!("{}: no such parameter", p.label()))?;
    let leaf = p.leaf();
    if matches!(&cur, toml::Value::String(s) if s == "auto") {
        return Err(format!(
            "{}: auto; press Enter and type a number",
            p.label()
        ));
    }
    if leaf == "reference" {
        return Err(
            "reference: press Enter and type a file (relative to the session) or album".into(),
        );
    }
    let d = f64::from(dir.signum());
    let next = match cur {
        toml::Value::Boolean(b) => toml::Value::Boolean(!b),
        toml::Value::Integer(i) => {
            if leaf == "slope_db_oct" {
                let opts = [12i64, 24, 48];
                let at = opts.iter().position(|o| *o == i).unwrap_or(0) as i64;
                let n = (at + i64::from(dir.signum())).clamp(0, 2) as usize;
                toml::Value::Integer(opts[n])
            } else {
                toml::Value::Integer(i + i64::from(dir.signum()) * if fine { 1 } else { 10 })
            }
        }
        toml::Value::Float(x) => {
            let v = if leaf.ends_with("_hz") {
                let base = if x <= 0.0 { 20.0 } else { x };
                let r = base * 2f64.powf(d / if fine { 24.0 } else { 3.0 });
                if x <= 0.0 && dir < 0 {
                    0.0
                } else {
                    (r * 10.0).round() / 10.0
                }
            } else if leaf.ends_with("_ms") || leaf == "q" {
                let f: f64 = if fine { 1.05 } else { 1.25 };
                let r = x * f.powf(d);
                (r * 1000.0).round() / 1000.0
            } else if leaf.ends_with("_oct") {
                // 1/12, 1/6, 1/3, 2/3 … of an octave.
                x * 2f64.powf(d)
            } else if leaf.ends_with("_pct") {
                x + d * if fine { 1.0 } else { 10.0 }
            } else if leaf == "ratio" {
                x + d * if fine { 0.1 } else { 0.5 }
            } else {
                x + d * if fine { 0.1 } else { 1.0 }
            };
            toml::Value::Float((v * 1000.0).round() / 1000.0)
        }
        toml::Value::String(s) => {
            let at = CHOICES.iter().position(|c| *c == s).unwrap_or(0);
            let n = CHOICES.len();
            for k in 1..n {
                let idx = if dir >= 0 {
                    (at + k) % n
                } else {
                    (at + n - k) % n
                };
                let cand = toml::Value::String(CHOICES[idx].to_string());
                if let Ok(mm) = with_value(m, p, cand) {
                    return Ok(mm);
                }
            }
            return Err(format!("{}: no other choice", p.label()));
        }
        other => return Err(format!("{}: {other} cannot be stepped", p.label())),
    };
    with_value(m, p, next)
}

/// Parse typed text for the value at `p` (same type as the current value).
pub fn parse_typed(m: &ModuleConfig, p: &Path, text: &str) -> Result<ModuleConfig, String> {
    let cur = value(m, p).ok_or_else(|| format!("{}: no such parameter", p.label()))?;
    let t = text.trim();
    // Settings that may be "auto" (hum's frequency and harmonics) take it
    // typed whatever they hold now, and a number when they hold "auto".
    if t.eq_ignore_ascii_case("auto") {
        return with_value(m, p, toml::Value::String("auto".into()));
    }
    if matches!(&cur, toml::Value::String(s) if s == "auto")
        && let Ok(x) = t.parse::<f64>()
    {
        let v = if x.fract() == 0.0 && p.leaf() == "harmonics" {
            toml::Value::Integer(x as i64)
        } else {
            toml::Value::Float(x)
        };
        return with_value(m, p, v);
    }
    let v = match cur {
        toml::Value::Boolean(_) => match t {
            "true" | "on" | "yes" | "1" => toml::Value::Boolean(true),
            "false" | "off" | "no" | "0" => toml::Value::Boolean(false),
            _ => return Err(format!("{}: '{t}' is not on/off", p.label())),
        },
        toml::Value::Integer(_) => toml::Value::Integer(
            t.parse()
                .map_err(|_| format!("{}: '{t}' is not a whole number", p.label()))?,
        ),
        toml::Value::Float(_) => {
            let x: f64 = t
                .trim_end_matches(|c: char| c.is_alphabetic() || c == '%')
                .trim()
                .parse()
                .map_err(|_| format!("{}: '{t}' is not a number", p.label()))?;
            toml::Value::Float(x)
        }
        toml::Value::String(_) => toml::Value::String(t.to_string()),
        _ => return Err(format!("{}: cannot be typed", p.label())),
    };
    with_value(m, p, v)
}

/// The value at `p` in the module's defaults.
pub fn default_value(m: &ModuleConfig, p: &Path) -> Option<toml::Value> {
    let mut t = toml::Table::new();
    t.insert("type".into(), toml::Value::String(m.kind().to_string()));
    let d: ModuleConfig = toml::Value::Table(t).try_into().ok()?;
    match p {
        Path::Key(_) => value(&d, p),
        Path::Nested(a, _, k) => {
            // Nested defaults: an entry made of defaults only.
            let mut tt = toml::Table::new();
            tt.insert("type".into(), toml::Value::String(m.kind().to_string()));
            tt.insert(
                a.clone(),
                toml::Value::Array(vec![toml::Value::Table(toml::Table::new())]),
            );
            let d: ModuleConfig = toml::Value::Table(tt).try_into().ok()?;
            value(&d, &Path::Nested(a.clone(), 0, k.clone()))
        }
    }
}

/// A value for display, with its unit from the name.
pub fn display(p: &Path, v: &toml::Value) -> String {
    let leaf = p.leaf();
    let unit = [
        ("_dbtp", " dBTP"),
        ("_lufs", " LUFS"),
        ("_db_oct", " dB/oct"),
        ("_db", " dB"),
        ("_hz", " Hz"),
        ("_ms", " ms"),
        ("_pct", " %"),
        ("_s", " s"),
    ]
    .iter()
    .find(|(suffix, _)| leaf.ends_with(suffix))
    .map_or("", |(_, u)| u);
    match v {
        toml::Value::Float(x) => {
            if leaf == "ratio" {
                format!("{x:.1}:1")
            } else if x.abs() >= 1000.0 {
                format!("{x:.0}{unit}")
            } else {
                format!("{}{unit}", trim_float(*x))
            }
        }
        toml::Value::Integer(i) => format!("{i}{unit}"),
        toml::Value::Boolean(b) => if *b { "on" } else { "off" }.into(),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}
