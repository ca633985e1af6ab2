//! A self-contained HTML page that colours each character of a text by one unit's activation
//! (cell state, hidden state or a gate), with pickers for the quantity and the unit.

use std::fmt::Write as _;

use lstm::lab::trace::Trace;

/// The quantities a page offers: `(name, [T, H] values, signed)`.
fn quantities(tr: &Trace) -> Vec<(String, Vec<f32>, bool)> {
    let mut q = vec![];
    if let Some(c) = &tr.cell_state {
        q.push((
            "cell state (tanh c)".to_string(),
            c.iter().map(|v| v.tanh()).collect(),
            true,
        ));
    }
    if tr.hidden_state.len() == tr.steps * tr.hidden {
        q.push(("hidden state h".into(), tr.hidden_state.clone(), true));
    }
    for ((name, g), &signed) in tr.gate_names.iter().zip(&tr.gates).zip(&tr.gate_signed) {
        q.push((name.to_string(), g.clone(), signed));
    }
    q
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page for `chars` (one per step of `tr`).
pub fn page(title: &str, chars: &[char], tr: &Trace) -> String {
    let h = tr.hidden;
    let qs = quantities(tr);
    // Values as integers in −100..=100, per quantity, per unit: data[q][u][t].
    let mut data = String::from("[");
    for (qi, (_, v, _)) in qs.iter().enumerate() {
        if qi > 0 {
            data.push(',');
        }
        data.push('[');
        for u in 0..h {
            if u > 0 {
                data.push(',');
            }
            data.push('[');
            for t in 0..tr.steps {
                if t > 0 {
                    data.push(',');
                }
                let x = (v[t * h + u].clamp(-1.0, 1.0) * 100.0).round() as i32;
                write!(data, "{x}").expect("string");
            }
            data.push(']');
        }
        data.push(']');
    }
    data.push(']');
    let names: Vec<String> = qs
        .iter()
        .map(|(n, _, _)| format!("\"{}\"", escape(n)))
        .collect();
    let signed: Vec<&str> = qs
        .iter()
        .map(|(_, _, s)| if *s { "true" } else { "false" })
        .collect();
    let text: String = chars.iter().collect();
    let text_json = serde_json::to_string(&text).expect("a string serialises");
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 70em; }}
#text {{ font-family: monospace; font-size: 15px; line-height: 1.7; white-space: pre-wrap; word-wrap: break-word; border: 1px solid #ccc; padding: 1em; }}
#text span {{ padding: 1px 0; }}
.legend span {{ display: inline-block; width: 3.4em; text-align: center; font-size: 12px; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Each character is coloured by the chosen unit's value right after the model read it:
red for positive, blue for negative (gates: blue for open, white for closed).
Hover over a character for its value.</p>
<p>
<label>quantity <select id="quantity"></select></label>
<label>unit <select id="unit"></select></label>
<button id="prev">&larr; unit</button> <button id="next">unit &rarr;</button>
<span id="info"></span>
</p>
<p class="legend" id="legend"></p>
<div id="text"></div>
<script>
const NAMES = [{names}];
const SIGNED = [{signed}];
const UNITS = {h};
const TEXT = {text_json};
const DATA = {data};
const qSel = document.getElementById("quantity");
const uSel = document.getElementById("unit");
NAMES.forEach((n, i) => qSel.add(new Option(n, i)));
for (let u = 0; u < UNITS; u++) uSel.add(new Option("unit " + u, u));
function colour(v, signed) {{
  const x = v / 100;
  if (signed) {{
    const s = Math.min(1, Math.abs(x));
    const c = x >= 0 ? [178, 24, 43] : [33, 102, 172];
    return "rgb(" + c.map(k => Math.round(255 + (k - 255) * s)).join(",") + ")";
  }}
  const s = Math.max(0, Math.min(1, x));
  return "rgb(" + [66, 146, 198].map(k => Math.round(255 + (k - 255) * s)).join(",") + ")";
}}
function render() {{
  const q = +qSel.value, u = +uSel.value, vals = DATA[q][u];
  const out = document.getElementById("text");
  out.textContent = "";
  const chars = Array.from(TEXT);
  chars.forEach((ch, t) => {{
    const s = document.createElement("span");
    s.textContent = ch;
    s.style.background = colour(vals[t], SIGNED[q]);
    s.title = "step " + t + ": " + (vals[t] / 100).toFixed(2);
    out.appendChild(s);
  }});
  const lo = SIGNED[q] ? -100 : 0;
  const legend = document.getElementById("legend");
  legend.textContent = "";
  for (let v = lo; v <= 100; v += SIGNED[q] ? 25 : 20) {{
    const s = document.createElement("span");
    s.textContent = (v / 100).toFixed(2);
    s.style.background = colour(v, SIGNED[q]);
    legend.appendChild(s);
  }}
  document.getElementById("info").textContent = NAMES[q] + ", unit " + u + " of " + UNITS;
}}
qSel.onchange = render;
uSel.onchange = render;
document.getElementById("prev").onclick = () => {{ uSel.value = (+uSel.value + UNITS - 1) % UNITS; render(); }};
document.getElementById("next").onclick = () => {{ uSel.value = (+uSel.value + 1) % UNITS; render(); }};
const params = new URLSearchParams(location.search);
if (params.has("q")) qSel.value = params.get("q");
if (params.has("unit")) uSel.value = params.get("unit");
render();
</script>
</body>
</html>
"#,
        title = escape(title),
        names = names.join(","),
        signed = signed.join(","),
    )
}
