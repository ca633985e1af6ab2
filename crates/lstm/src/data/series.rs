//! Time series from CSV: columns picked by name, gaps filled by a stated policy (never silently),
//! chronological splits, scaling fitted on the training part only, and forecasting windows.
//!
//! Windows are **level-relative**: a window of `W` steps ending at `t` feeds the model each column
//! minus its value at `t`, divided by the column's standard deviation over the training part; the targets are
//! `(y_{t+h} − y_t) / std` for `h = 1..=H` (direct multi-step forecasting, one output per horizon
//! and target column). A model trained this way is blind to the series' level, so a trend that
//! leaves the training range (as CO2 does) stays forecastable.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Sample, SampleSet, SeqInput, SeqTarget};
use crate::error::{Error, Result};
use crate::io::model_file::Scaling;

/// What to do with empty fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// A missing value is an error naming its line and column.
    None,
    /// Linear interpolation between the neighbouring values (the ends copy the nearest value).
    Linear,
}

/// A multi-column time series; `columns[0..targets]` are the targets, the rest extra inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Column names (targets first).
    pub columns: Vec<String>,
    /// How many leading columns are targets.
    pub targets: usize,
    /// `[N, C]` values.
    pub values: Vec<f32>,
    /// `[N]` dates (the date column's text), if one was named.
    pub dates: Vec<String>,
    /// Values filled by the fill policy.
    pub filled: usize,
}

/// Which columns to read.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSpec {
    /// Target columns (at least one).
    pub targets: Vec<String>,
    /// Extra input columns.
    pub inputs: Vec<String>,
    /// The date column, if any.
    pub date: Option<String>,
    /// Gap policy.
    pub fill: Fill,
}

impl Series {
    /// Reads a CSV with a header row. Errors name `source`, the line (1-based, header = 1), the
    /// column and the offending text; an unknown column lists the available ones.
    pub fn from_csv(text: &str, source: &str, spec: &SeriesSpec) -> Result<Series> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header: Vec<String> = rdr
            .headers()
            .map_err(|e| Error::Data(format!("{source}: cannot read the header: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        if spec.targets.is_empty() {
            return Err(Error::config("target", "name at least one target column"));
        }
        let find = |name: &str| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                Error::Data(format!(
                    "{source}: no column `{name}`; the columns are: {}",
                    header.join(", ")
                ))
            })
        };
        let names: Vec<String> = spec.targets.iter().chain(&spec.inputs).cloned().collect();
        let idx: Vec<usize> = names.iter().map(|n| find(n)).collect::<Result<_>>()?;
        let date_idx = spec.date.as_deref().map(find).transpose()?;
        let c = idx.len();
        let mut values: Vec<Option<f32>> = Vec::new();
        let mut dates = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec =
                rec.map_err(|e| Error::Data(format!("{source}:{line}: malformed CSV row: {e}")))?;
            if rec.len() != header.len() {
                return Err(Error::Data(format!(
                    "{source}:{line}: expected {} fields (as in the header), found {}",
                    header.len(),
                    rec.len()
                )));
            }
            for (&k, name) in idx.iter().zip(&names) {
                let field = &rec[k];
                if field.is_empty()
                    || field.eq_ignore_ascii_case("nan")
                    || field.eq_ignore_ascii_case("na")
                {
                    if spec.fill == Fill::None {
                        return Err(Error::Data(format!(
                            "{source}:{line}: column `{name}` is missing a value (`{field}`); fill gaps with --fill linear"
                        )));
                    }
                    values.push(None);
                    continue;
                }
                match field.parse::<f32>() {
                    Ok(v) if v.is_finite() => values.push(Some(v)),
                    _ => {
                        return Err(Error::Data(format!(
                            "{source}:{line}: column `{name}`: `{field}` is not a finite number"
                        )))
                    }
                }
            }
            if let Some(d) = date_idx {
                dates.push(rec[d].to_string());
            }
        }
        let n = values.len() / c.max(1);
        if n == 0 {
            return Err(Error::Data(format!("{source}: no data rows")));
        }
        let mut out = vec![0.0; n * c];
        let mut filled = 0;
        for col in 0..c {
            let known: Vec<(usize, f32)> = (0..n)
                .filter_map(|r| values[r * c + col].map(|v| (r, v)))
                .collect();
            if known.is_empty() {
                return Err(Error::Data(format!(
                    "{source}: column `{}` has no values at all",
                    names[col]
                )));
            }
            let mut k = 0;
            for r in 0..n {
                let v = match values[r * c + col] {
                    Some(v) => v,
                    None => {
                        filled += 1;
                        while k + 1 < known.len() && known[k + 1].0 < r {
                            k += 1;
                        }
                        let (r0, v0) = known[k];
                        match known.get(k + 1) {
                            Some(&(r1, v1)) if r0 < r => {
                                v0 + (v1 - v0) * (r - r0) as f32 / (r1 - r0) as f32
                            }
                            _ if r < r0 => v0,
                            _ => v0,
                        }
                    }
                };
                out[r * c + col] = v;
            }
        }
        Ok(Series {
            columns: names,
            targets: spec.targets.len(),
            values: out,
            dates,
            filled,
        })
    }

    /// Reads a CSV file; see [`Series::from_csv`].
    pub fn from_csv_file(path: &Path, spec: &SeriesSpec) -> Result<Series> {
        let text = super::text::read_utf8(path)?;
        Series::from_csv(&text, &path.display().to_string(), spec)
    }

    /// N: rows.
    pub fn len(&self) -> usize {
        self.values.len() / self.columns.len().max(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Value at row `r`, column `c`.
    pub fn at(&self, r: usize, c: usize) -> f32 {
        self.values[r * self.columns.len() + c]
    }

    /// Per-column mean and standard deviation over rows `0..end` (the training part only); the
    /// standard deviation is the scale of the level-relative windows.
    pub fn fit_scaling(&self, end: usize) -> Scaling {
        let c = self.columns.len();
        let (mut mean, mut std) = (vec![0.0; c], vec![1.0; c]);
        for col in 0..c {
            let v: Vec<f64> = (0..end).map(|r| self.at(r, col) as f64).collect();
            let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
            let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len().max(1) as f64;
            mean[col] = m as f32;
            std[col] = (var.sqrt() as f32).max(1e-6);
        }
        Scaling {
            columns: self.columns.clone(),
            mean,
            std,
        }
    }

    /// The model input of the window ending at row `t` (inclusive): `[W, C]`, level-relative.
    pub fn window_input(&self, t: usize, window: usize, s: &Scaling) -> Vec<f32> {
        let c = self.columns.len();
        let mut x = Vec::with_capacity(window * c);
        for r in t + 1 - window..=t {
            for col in 0..c {
                x.push((self.at(r, col) - self.at(t, col)) / s.std[col]);
            }
        }
        x
    }

    /// Forecasting samples for windows ending at rows `ends` (each needs `window − 1` rows before
    /// it and `horizon` after): inputs `[W, C]`, targets `[horizon · targets]`, level-relative.
    pub fn windows(
        &self,
        ends: std::ops::Range<usize>,
        window: usize,
        horizon: usize,
        s: &Scaling,
    ) -> SampleSet {
        let samples = ends
            .filter(|&t| t + 1 >= window && t + horizon < self.len())
            .map(|t| {
                let mut y = Vec::with_capacity(horizon * self.targets);
                for h in 1..=horizon {
                    for col in 0..self.targets {
                        y.push((self.at(t + h, col) - self.at(t, col)) / s.std[col]);
                    }
                }
                Sample {
                    x: SeqInput::Dense(self.window_input(t, window, s)),
                    y: SeqTarget::Values(y),
                }
            })
            .collect();
        SampleSet {
            features: self.columns.len(),
            samples,
        }
    }

    /// Turns model outputs for the window ending at `t` back into values: `[horizon · targets]`.
    pub fn unscale_forecast(&self, t: usize, out: &[f32], s: &Scaling) -> Vec<f32> {
        out.iter()
            .enumerate()
            .map(|(i, &v)| self.at(t, i % self.targets) + v * s.std[i % self.targets])
            .collect()
    }
}

/// How a forecaster was trained: stored in its model file so `forecast` and `eval` read new data
/// the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesMeta {
    /// Target columns.
    pub targets: Vec<String>,
    /// Extra input columns.
    pub inputs: Vec<String>,
    /// Date column.
    pub date: Option<String>,
    /// Gap policy.
    pub fill: Fill,
    /// W: window length.
    pub window: usize,
    /// H: steps forecast directly.
    pub horizon: usize,
    /// Season length of the seasonal-naive baseline.
    pub season: usize,
    /// Where the training data came from (a path, or `embedded:co2_weekly`).
    pub source: String,
}

impl SeriesMeta {
    /// The columns to read.
    pub fn spec(&self) -> SeriesSpec {
        SeriesSpec {
            targets: self.targets.clone(),
            inputs: self.inputs.clone(),
            date: self.date.clone(),
            fill: self.fill,
        }
    }
}

/// The next `k` dates after a series of ISO `YYYY-MM-DD` dates with a constant step in days;
/// `None` if the dates are not of that form.
pub fn extend_dates(dates: &[String], k: usize) -> Option<Vec<String>> {
    fn days(d: &str) -> Option<i64> {
        let p: Vec<&str> = d.split('-').collect();
        let (y, m, dd): (i64, i64, i64) = match p.as_slice() {
            [y, m, d] if y.len() == 4 => (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?),
            _ => return None,
        };
        // Days from civil (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + dd - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(era * 146097 + doe - 719468)
    }
    fn civil(z: i64) -> String {
        let z = z + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}-{d:02}")
    }
    let n = dates.len();
    if n < 2 {
        return None;
    }
    let (a, b) = (days(&dates[n - 2])?, days(&dates[n - 1])?);
    let step = b - a;
    (step > 0).then(|| (1..=k as i64).map(|i| civil(b + i * step)).collect())
}

/// Point forecast errors over a set of forecasts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Errors {
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Points compared.
    pub n: usize,
}

impl Errors {
    /// Errors of `pred` against `actual`.
    pub fn of(pred: &[f32], actual: &[f32]) -> Errors {
        let n = pred.len().min(actual.len());
        let (mut se, mut ae) = (0.0f64, 0.0f64);
        for (p, a) in pred.iter().zip(actual) {
            let e = (*p - *a) as f64;
            se += e * e;
            ae += e.abs();
        }
        Errors {
            rmse: (se / n.max(1) as f64).sqrt(),
            mae: ae / n.max(1) as f64,
            n,
        }
    }
}

/// Forecasts of the naive baseline (`ŷ_{t+h} = y_t`) and the seasonal-naive one
/// (`ŷ_{t+h} = y_{t+h−k·season}` with the smallest k ≥ 1 that reaches the known past) for the
/// window ending at `t`, `[horizon · targets]` each.
pub fn baselines(series: &Series, t: usize, horizon: usize, season: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut naive, mut seasonal) = (vec![], vec![]);
    for h in 1..=horizon {
        for col in 0..series.targets {
            naive.push(series.at(t, col));
            let k = h.div_ceil(season.max(1));
            let r = (t + h).saturating_sub(k * season.max(1));
            seasonal.push(series.at(r.min(t), col));
        }
    }
    (naive, seasonal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(fill: Fill) -> SeriesSpec {
        SeriesSpec {
            targets: vec!["y".into()],
            inputs: vec![],
            date: Some("d".into()),
            fill,
        }
    }

    #[test]
    fn csv_gaps_fill_linearly_or_fail_with_the_line() {
        let text = "d,y\n1,1.0\n2,\n3,\n4,4.0\n5,nan\n";
        let s = Series::from_csv(text, "t.csv", &spec(Fill::Linear)).unwrap();
        assert_eq!(s.values, vec![1.0, 2.0, 3.0, 4.0, 4.0]);
        assert_eq!((s.filled, s.dates.len()), (3, 5));
        let e = Series::from_csv(text, "t.csv", &spec(Fill::None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv:3: column `y` is missing a value"), "{e}");
        let e = Series::from_csv("d,y\n1,1\n2,abc\n", "t.csv", &spec(Fill::Linear))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.csv:3: column `y`: `abc` is not a finite number"),
            "{e}"
        );
        let e = Series::from_csv("d,x\n1,1\n", "t.csv", &spec(Fill::Linear))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `y`; the columns are: d, x"), "{e}");
        let e = Series::from_csv("d,y\n1,1\n2,3,4\n", "t.csv", &spec(Fill::Linear))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv:3:"), "{e}");
    }

    #[test]
    fn windows_are_level_relative_and_invert() {
        let text: String = std::iter::once("d,y\n".to_string())
            .chain((0..20).map(|i| format!("{i},{}\n", 100 + 2 * i)))
            .collect();
        let s = Series::from_csv(&text, "t", &spec(Fill::None)).unwrap();
        let sc = s.fit_scaling(3); // 100, 102, 104
        assert!(
            (sc.mean[0] - 102.0).abs() < 1e-5 && (sc.std[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-5,
            "{sc:?}"
        );
        let sc = Scaling {
            columns: vec!["y".into()],
            mean: vec![0.0],
            std: vec![2.0],
        };
        let w = s.windows(3..6, 4, 2, &sc);
        assert_eq!(w.len(), 3);
        let SeqInput::Dense(x) = &w.samples[0].x else {
            panic!()
        };
        assert_eq!(x, &vec![-3.0, -2.0, -1.0, 0.0]);
        let SeqTarget::Values(y) = &w.samples[0].y else {
            panic!()
        };
        assert_eq!(y, &vec![1.0, 2.0]);
        assert_eq!(s.unscale_forecast(3, y, &sc), vec![108.0, 110.0]);
        let dates = vec!["2001-12-22".to_string(), "2001-12-29".to_string()];
        assert_eq!(
            extend_dates(&dates, 2).unwrap(),
            vec!["2002-01-05", "2002-01-12"]
        );
        assert!(extend_dates(&["1".to_string(), "2".to_string()], 1).is_none());
        let (naive, seasonal) = baselines(&s, 10, 3, 2);
        assert_eq!(naive, vec![120.0; 3]);
        assert_eq!(seasonal, vec![118.0, 120.0, 118.0]);
    }
}
