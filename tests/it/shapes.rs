//! Every layer's output shape through the real parser and checker, from the
//! tables in `tests/shapes/*.txt`: each row is `input type | call |
//! expected type` (or `error`), the expectation computed by PyTorch for the
//! same layer (`tests/shapes/make.py`) or, in `differences.txt`, written by
//! hand from the rule dlc documents where it differs. Each row becomes a
//! one-layer model; the checker's type must be the expected one, a refused
//! row must be refused with a located diagnostic that states the rule in
//! its hint, and the lowered graph (train and eval mode) must agree with
//! the checker on the output's type. A convolution's weight, laid out as
//! PyTorch lays it out, also has PyTorch's fans (which scale its
//! initializer): `fan_in = shape[1]·taps`, `fan_out = shape[0]·taps`.

use dlc::passes::lower::{lower, Mode};

use crate::common::{check_with, show, MemoryCatalog};

struct Row {
    file: String,
    line: usize,
    input: String,
    call: String,
    want: String,
}

fn rows() -> Vec<Row> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/shapes");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for (i, text) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = text.split('|').map(str::trim).collect();
            assert_eq!(cols.len(), 3, "{file}:{}: three columns", i + 1);
            out.push(Row {
                file: file.clone(),
                line: i + 1,
                input: cols[0].into(),
                call: cols[1].into(),
                want: cols[2].into(),
            });
        }
    }
    out
}

/// What is wrong with `row`, if anything.
fn check_row(row: &Row) -> Option<String> {
    let src = format!(
        "model m {{\n  input x: {}\n  output y = {}\n}}\n",
        row.input, row.call
    );
    let program = match check_with(&src, &MemoryCatalog(vec![])) {
        Ok(p) => p,
        Err(diags) => {
            if row.want != "error" {
                return Some(format!("refused:\n{}", show(&src, &diags)));
            }
            let d = &diags[0];
            if d.labels.is_empty() || d.help.is_none() {
                return Some(format!(
                    "refused without a label and a hint:\n{}",
                    show(&src, &diags)
                ));
            }
            return None;
        }
    };
    let model = program
        .models
        .iter()
        .find(|m| m.name == "m")
        .expect("the model is instantiated");
    let (_, y) = model.outputs.iter().find(|(n, _)| n == "y").unwrap();
    let got = model.nodes[*y].ty.to_string();
    if got != row.want {
        return Some(format!("checker says {got}, want {}", row.want));
    }
    for p in model.params.iter().filter(|p| p.ty.rank() >= 3) {
        let dims: Vec<usize> =
            p.ty.shape
                .dims()
                .iter()
                .map(|d| d.fixed().unwrap())
                .collect();
        let taps: usize = dims[2..].iter().product();
        let want = (dims[1] * taps, dims[0] * taps);
        if (p.fan_in, p.fan_out) != want {
            return Some(format!(
                "{} {:?} has fans {:?}, PyTorch's are {want:?}",
                p.path,
                dims,
                (p.fan_in, p.fan_out)
            ));
        }
    }
    for mode in [Mode::Train, Mode::Eval] {
        let g = lower(model, mode);
        let out = g.outputs.iter().find(|o| o.name == "y").unwrap();
        let lowered = g.ty(out.value).to_string();
        if lowered != got {
            return Some(format!(
                "lowered ({mode:?}) to {lowered}, checker says {got}"
            ));
        }
    }
    None
}

#[test]
fn every_layer_argument_gives_the_tabled_shape() {
    let rows = rows();
    assert!(
        rows.len() > 1000,
        "the tables are read ({} rows)",
        rows.len()
    );
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            check_row(r)
                .map(|why| format!("{}:{}: {} on {}: {why}", r.file, r.line, r.call, r.input))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} rows disagree:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}
