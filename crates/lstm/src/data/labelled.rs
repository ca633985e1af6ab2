//! Labelled sequences for classification, as JSON Lines: one object per line,
//!
//! ```text
//! {"label": "walking", "sequence": [0.1, 0.3, 0.2]}                 one feature per step
//! {"label": "running", "sequence": [[0.1, 2.0], [0.3, 1.8]]}       F features per step
//! ```
//!
//! Sequences may differ in length; every step must have the same number of features; classes are
//! the distinct labels, sorted by name; blank lines are skipped.

use serde::Deserialize;

use super::{Sample, SampleSet, SeqInput, SeqTarget};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(untagged)]
enum Steps {
    Flat(Vec<f32>),
    Nested(Vec<Vec<f32>>),
}

#[derive(Deserialize)]
struct Line {
    label: String,
    sequence: Steps,
}

/// Labelled sequences with their class names.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    /// The samples (`Class` targets index `classes`).
    pub set: SampleSet,
    /// Class names, sorted.
    pub classes: Vec<String>,
}

/// Parses JSON Lines text (see the module docs); `classes` fixes the class list (e.g. a trained
/// model's), otherwise it is taken from the data and must have at least two classes.
pub fn parse_jsonl(text: &str, source: &str, classes: Option<&[String]>) -> Result<Labelled> {
    let mut rows: Vec<(String, Vec<f32>, usize)> = Vec::new();
    let mut features = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(raw).map_err(|e| {
            Error::Data(format!(r#"{source}:{line}: not a labelled sequence ({e}); expected {{"label": "name", "sequence": [..]}}"#))
        })?;
        let (values, f) = match l.sequence {
            Steps::Flat(v) => (v, 1),
            Steps::Nested(v) => {
                let f = v.first().map_or(0, Vec::len);
                if let Some(k) = v.iter().position(|s| s.len() != f) {
                    return Err(Error::Data(format!(
                        "{source}:{line}: step {k} has {} features, step 0 has {f}",
                        v[k].len()
                    )));
                }
                (v.concat(), f)
            }
        };
        if values.is_empty() || f == 0 {
            return Err(Error::Data(format!(
                "{source}:{line}: the sequence is empty"
            )));
        }
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Data(format!(
                "{source}:{line}: value {k} is not finite"
            )));
        }
        match features {
            None => features = Some(f),
            Some(f0) if f0 != f => {
                return Err(Error::Data(format!(
                    "{source}:{line}: {f} features per step, earlier lines have {f0}"
                )))
            }
            _ => {}
        }
        rows.push((l.label, values, line));
    }
    let classes: Vec<String> = match classes {
        Some(c) => c.to_vec(),
        None => {
            let mut c: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
            c.sort();
            c.dedup();
            if c.len() < 2 {
                return Err(Error::Data(format!(
                    "{source}: found {} class{} ({}); a classifier needs at least two",
                    c.len(),
                    if c.len() == 1 { "" } else { "es" },
                    c.join(", ")
                )));
            }
            c
        }
    };
    let samples = rows
        .into_iter()
        .map(|(label, values, line)| {
            let class = classes
                .binary_search(&label)
                .ok()
                .or_else(|| classes.iter().position(|c| *c == label));
            let class = class.ok_or_else(|| {
                Error::Data(format!(
                    "{source}:{line}: label `{label}` is not one of the model's classes: {}",
                    classes.join(", ")
                ))
            })?;
            Ok(Sample {
                x: SeqInput::Dense(values),
                y: SeqTarget::Class(class),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if samples.is_empty() {
        return Err(Error::Data(format!("{source}: no labelled sequences")));
    }
    Ok(Labelled {
        set: SampleSet {
            features: features.unwrap_or(1),
            samples,
        },
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flat_and_nested_and_refuses_bad_lines() {
        let t = "{\"label\": \"b\", \"sequence\": [1, 2, 3]}\n\n{\"label\": \"a\", \"sequence\": [4]}\n";
        let l = parse_jsonl(t, "x.jsonl", None).unwrap();
        assert_eq!(l.classes, vec!["a", "b"]);
        assert_eq!(l.set.samples[0].y, SeqTarget::Class(1));
        assert_eq!(l.set.samples[1].x, SeqInput::Dense(vec![4.0]));
        let n = "{\"label\": \"a\", \"sequence\": [[1, 2], [3, 4]]}\n{\"label\": \"b\", \"sequence\": [[1, 2]]}\n";
        assert_eq!(parse_jsonl(n, "n", None).unwrap().set.features, 2);
        let one = "{\"label\": \"a\", \"sequence\": [1]}\n{\"label\": \"a\", \"sequence\": [2]}\n";
        assert!(parse_jsonl(one, "o.jsonl", None)
            .unwrap_err()
            .to_string()
            .contains("found 1 class (a); a classifier needs at least two"));
        let bad = "{\"label\": \"a\", \"sequence\": [1]}\nnot json\n";
        assert!(parse_jsonl(bad, "b.jsonl", None)
            .unwrap_err()
            .to_string()
            .starts_with("data: b.jsonl:2: not a labelled sequence"));
        let ragged = "{\"label\": \"a\", \"sequence\": [[1, 2], [3]]}\n";
        assert!(parse_jsonl(ragged, "r", None)
            .unwrap_err()
            .to_string()
            .contains("r:1: step 1 has 1 features"));
        let unknown = "{\"label\": \"z\", \"sequence\": [1]}\n";
        assert!(parse_jsonl(unknown, "u", Some(&["a".into(), "b".into()]))
            .unwrap_err()
            .to_string()
            .contains("label `z`"));
    }
}
