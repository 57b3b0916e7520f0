//! `report.html`: one HTML file at the root of the work folder. No script, no external resource; images are
//! relative links into the work folder (`faces/`, `crops/`, `runs/<name>/`, `strangers/`), so the report is
//! small and stays valid as long as it sits in its work folder. Every string is escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use issc_dataset::{Fate, Manifest};
use serde_json::Value;

use crate::Summary;
use crate::crop::{CropEntry, CropStatus};

/// What the report shows.
pub struct Input<'a> {
    /// The summary of the run.
    pub summary: &'a Summary,
    /// The pipeline file.
    pub config_file: &'a Path,
    /// The work folder.
    pub work: &'a Path,
    /// `crops/crops.jsonl`.
    pub crops: &'a [CropEntry],
    /// Original file names of the photos in `raw/`, by `<label>/<stored file>`.
    pub originals: &'a BTreeMap<String, String>,
    /// `raw/manifest.jsonl`: where each stored photo came from, with its licence and author when known.
    pub sources: &'a [issc_downloader::Entry],
    /// Crops kept for the dataset (`<label>/<file>`).
    pub kept: &'a BTreeSet<String>,
    /// `dataset/dataset.json`.
    pub dataset: &'a Manifest,
    /// The training run folder.
    pub run_dir: &'a Path,
    /// The run's `model.json`.
    pub train_card: &'a issc_train::TrainCard,
    /// The run's `test.json`.
    pub test: Option<&'a Value>,
    /// The exported model's card.
    pub model: &'a issc_predict::ModelCard,
}

/// HTML-escape text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A relative URL for a path inside the work folder: each segment percent-encoded, then HTML-escaped.
pub fn href(rel: &str) -> String {
    let mut out = String::new();
    for b in rel.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    esc(&out)
}

const CSS: &str = "\
:root{--fg:#1d2330;--muted:#667085;--line:#e3e6eb;--bg:#fff;--soft:#f6f7f9;--ok:#127a3e;--warn:#a15c00;--bad:#b42318}
*{box-sizing:border-box}body{margin:0 auto;max-width:1100px;padding:24px;font:15px/1.5 system-ui,-apple-system,\
'Segoe UI',Roboto,sans-serif;color:var(--fg);background:var(--bg)}h1{font-size:26px;margin:0 0 4px}\
h2{font-size:19px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}h3{font-size:16px;\
margin:18px 0 6px}.meta{color:var(--muted);font-size:13px;margin:0}table{border-collapse:collapse;width:100%;\
margin:6px 0}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}\
th{background:var(--soft);font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
.kpi{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}.kpi div{background:var(--soft);border-radius:8px;\
padding:10px 14px;min-width:150px}.kpi b{display:block;font-size:22px}.kpi span{color:var(--muted);font-size:13px}\
.grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:104px;font-size:11px;color:var(--muted);\
text-align:center;word-break:break-all}figure img{width:96px;height:96px;border-radius:6px;display:block;\
margin:0 auto 2px;background:var(--soft)}figure.out img{opacity:.45}.tag{display:inline-block;border-radius:4px;\
padding:0 5px;font-size:11px;color:#fff;background:var(--muted)}.train{background:#2e6cd1}.val{background:#7a4fd0}\
.test{background:#c0569a}.removed{background:var(--bad)}.ok{color:var(--ok)}.warn{color:var(--warn)}\
.bad{color:var(--bad)}.plots img{max-width:100%;border:1px solid var(--line);border-radius:6px;margin:4px 0}\
code{background:var(--soft);padding:1px 4px;border-radius:4px;font-size:13px;word-break:break-all}\
td.state{white-space:nowrap}summary{cursor:pointer;color:var(--muted);font-size:13px}";

fn rel_to(work: &Path, p: &Path) -> String {
    p.strip_prefix(work).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

fn pct(x: f64) -> String {
    if x.is_finite() { format!("{:.1} %", 100.0 * x) } else { "–".into() }
}

fn fate_name(f: Fate) -> &'static str {
    match f {
        Fate::Train => "train",
        Fate::Val => "val",
        Fate::Test => "test",
        Fate::Removed => "removed",
    }
}

fn figure(out: &mut String, src: &str, caption: &str, tag: Option<&str>, class: &str) {
    let _ = write!(
        out,
        "<figure class=\"{class}\"><img src=\"{}\" alt=\"{}\" loading=\"lazy\" width=\"96\" height=\"96\">\
         {}{}</figure>",
        href(src),
        esc(caption),
        tag.map(|t| format!("<span class=\"tag {t}\">{t}</span> ")).unwrap_or_default(),
        esc(caption)
    );
}

/// "Photo sources": every stored web photo with its source page, author and licence (what to credit), per person.
fn sources_section(i: &Input<'_>) -> String {
    let mut stored: BTreeMap<&str, &issc_downloader::Entry> = BTreeMap::new();
    for e in i.sources {
        if let Some(p) = &e.path
            && (e.attribution.is_some() || e.url.starts_with("http"))
        {
            stored.insert(p.as_str(), e);
        }
    }
    if stored.is_empty() {
        return String::new();
    }
    let mut h = String::from(
        "<h2 id=\"sources\">Photo sources and licences</h2><p class=\"meta\">Where each downloaded photo came from, \
         who made it and under which licence, as the search provider said (Wikimedia Commons gives licence and \
         author; other searches do not: check the source page before you publish). Also in \
         <code>raw/&lt;label&gt;/ATTRIBUTION.md</code>.</p>\n<table><tr><th>person</th><th>photo</th><th>author</th>\
         <th>licence</th></tr>\n",
    );
    let unknown = "<span class=\"meta\">unknown</span>".to_string();
    for (path, e) in stored {
        let a = e.attribution.clone().unwrap_or_default();
        let title = a.title.clone().unwrap_or_else(|| i.originals.get(path).cloned().unwrap_or_else(|| path.into()));
        let link = |text: &str, url: &Option<String>| match url {
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                format!("<a href=\"{}\">{}</a>", esc(u), esc(text))
            }
            _ => esc(text),
        };
        let photo = link(&title, &a.page.clone().or_else(|| Some(e.url.clone())));
        let author = a.author.as_deref().map_or_else(|| unknown.clone(), esc);
        let licence = a.license.as_deref().map_or_else(|| unknown.clone(), |l| link(l, &a.license_url));
        let credit =
            if a.attribution_required == Some(true) { " <span class=\"meta\">(credit required)</span>" } else { "" };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{photo}</td><td>{author}</td><td>{licence}{credit}</td></tr>",
            esc(&e.label)
        );
    }
    h.push_str("</table>\n");
    h
}

/// The whole page.
pub fn render(i: &Input<'_>) -> String {
    let mut h = String::new();
    section_head(&mut h, i);
    section_key_figures(&mut h, i);
    section_stages(&mut h, i);
    section_people(&mut h, i);
    section_gallery(&mut h, i);
    section_duplicates(&mut h, i);
    section_training(&mut h, i);
    section_unknown_rejection(&mut h, i);
    section_model(&mut h, i);
    h.push_str("</body></html>\n");
    h
}

/// The page head, title and run line.
fn section_head(h: &mut String, i: &Input<'_>) {
    let s = i.summary;
    h.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    let title = esc(&crate::show(i.config_file));
    let _ = writeln!(h, "<title>issc run — {title}</title><style>{CSS}</style></head><body>");
    let _ = writeln!(
        h,
        "<h1>Who is who: pipeline report</h1><p class=\"meta\">config <code>{}</code> · work folder \
         <code>{}</code> · engine {} · issc {} · {:.1} s</p>",
        esc(&i.config_file.display().to_string()),
        esc(&i.work.display().to_string()),
        esc(&s.engine),
        esc(env!("CARGO_PKG_VERSION")),
        s.seconds
    );
}

/// Key figures.
fn section_key_figures(h: &mut String, i: &Input<'_>) {
    let s = i.summary;
    let st = &s.stages;
    let os = &s.open_set;
    let _ = writeln!(
        h,
        "<div class=\"kpi\"><div><b>{}</b><span>people</span></div>\
         <div><b>{}</b><span>faces in the dataset</span></div>\
         <div><b>{}</b><span>test accuracy ({} faces)</span></div>\
         <div><b>{}</b><span>unknown rejected (validation)</span></div>\
         <div><b>{}</b><span>known accepted (validation)</span></div></div>",
        s.people.len(),
        st.prepare.train + st.prepare.val + st.prepare.test,
        pct(s.test_accuracy),
        st.train.test_faces,
        pct(os.unknown_reject),
        pct(os.known_accept)
    );
}

/// Stages.
fn section_stages(h: &mut String, i: &Input<'_>) {
    let s = i.summary;
    let st = &s.stages;
    h.push_str(
        "<h2 id=\"stages\">Stages</h2><table><tr><th>stage</th><th>this run</th><th>outcome</th>\
         <th class=\"n\">seconds</th></tr>\n",
    );
    let state = |u: bool| if u { "<span class=\"ok\">up to date</span>" } else { "done" };
    let f = &st.fetch;
    let rows: Vec<(&str, bool, String, f64)> = vec![
        (
            "fetch",
            f.up_to_date,
            format!(
                "{} photos stored for {} people; this run: {} new, {} duplicates, {} rejected, {} failed",
                f.stored,
                s.people.len(),
                f.downloaded,
                f.duplicates,
                f.rejected,
                f.failed
            ),
            f.seconds,
        ),
        (
            "crop",
            st.crop.up_to_date,
            format!(
                "{} photos: {} faces found, {} without a face, {} unreadable; {} kept ([crop] faces = \"{}\"), \
                 {} left out",
                st.crop.photos,
                st.crop.faces,
                st.crop.no_face,
                st.crop.unreadable,
                st.crop.kept,
                st.crop.policy,
                st.crop.left_out
            ),
            st.crop.seconds,
        ),
        (
            "prepare",
            st.prepare.up_to_date,
            format!(
                "{} faces: train {}, val {}, test {}, removed {}; {} near-duplicate pairs kept within one split",
                st.prepare.files,
                st.prepare.train,
                st.prepare.val,
                st.prepare.test,
                st.prepare.removed,
                st.prepare.near_duplicate_pairs
            ),
            st.prepare.seconds,
        ),
        (
            "train",
            st.train.up_to_date,
            format!(
                "{} on {} people: {} epochs (best {}{}), validation accuracy {}, test accuracy {}",
                st.train.mode,
                st.train.labels,
                st.train.epochs,
                st.train.best_epoch,
                if st.train.stopped_early { ", early stop" } else { "" },
                pct(st.train.val_accuracy),
                pct(st.train.test_accuracy)
            ),
            st.train.seconds,
        ),
        (
            "export",
            st.export.up_to_date,
            format!("model.onnx, {:.1} MB, {} labels", st.export.bytes as f64 / 1e6, st.export.labels.len()),
            st.export.seconds,
        ),
    ];
    let mut rows = rows;
    if let Some(x) = &st.strangers {
        rows.push((
            "strangers",
            x.up_to_date,
            format!(
                "{} faces in {} photos of people not trained on: {} answered unknown",
                x.faces, x.photos, x.unknown
            ),
            x.seconds,
        ));
    }
    for (name, up, what, secs) in rows {
        let _ = writeln!(
            h,
            "<tr><td>{name}</td><td class=\"state\">{}</td><td>{}</td><td class=\"n\">{secs:.1}</td></tr>",
            state(up),
            esc(&what)
        );
    }
    h.push_str("</table>\n");
}

/// People.
fn section_people(h: &mut String, i: &Input<'_>) {
    let s = i.summary;
    h.push_str(
        "<h2 id=\"people\">People</h2><table><tr><th>person</th><th>photos from</th><th class=\"n\">photos</th>\
         <th class=\"n\">faces</th><th class=\"n\">kept</th><th class=\"n\">train</th><th class=\"n\">val</th>\
         <th class=\"n\">test</th><th class=\"n\">removed</th></tr>\n",
    );
    for p in &s.people {
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#p-{}\">{}</a>{}</td><td>{} <code>{}</code></td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            href(&p.label),
            esc(&p.label),
            if p.left_out { " <span class=\"warn\">(left out: too few faces)</span>" } else { "" },
            esc(&p.source),
            esc(&p.from),
            p.photos,
            p.faces,
            p.kept,
            p.train,
            p.val,
            p.test,
            p.removed
        );
    }
    h.push_str("</table>\n");

    h.push_str(&sources_section(i));
}

/// Gallery.
fn section_gallery(h: &mut String, i: &Input<'_>) {
    let s = i.summary;
    let fates: BTreeMap<&str, Fate> = i.dataset.files.iter().map(|f| (f.path.as_str(), f.fate)).collect();
    h.push_str(
        "<h2 id=\"gallery\">Faces per person</h2><p class=\"meta\">Aligned 112×112 crops. Coloured tags: the split \
         each kept face went to. Faded: faces found in the same photos but not kept (other people in the \
         picture).</p>\n",
    );
    for p in &s.people {
        let _ = write!(h, "<h3 id=\"p-{}\">{}</h3>", href(&p.label), esc(&p.label));
        let mine: Vec<&CropEntry> = i.crops.iter().filter(|e| e.label.as_deref() == Some(p.label.as_str())).collect();
        let (mut kept, mut out) = (String::new(), String::new());
        let mut faceless = vec![];
        for e in &mine {
            let src = Path::new(&e.source);
            let stored = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let name = i.originals.get(&format!("{}/{stored}", p.label)).cloned().unwrap_or(stored);
            match (&e.crop, e.status) {
                (Some(c), CropStatus::Ok) if i.kept.contains(c) => {
                    let tag = fates.get(c.as_str()).map(|f| fate_name(*f));
                    figure(&mut kept, &format!("{}/{c}", crate::FACES), &name, tag, "");
                }
                (Some(c), CropStatus::Ok) => figure(&mut out, &format!("{}/{c}", crate::CROPS), &name, None, "out"),
                (_, CropStatus::NoFace) => faceless.push(format!("{name} (no face found)")),
                (_, _) => faceless.push(format!("{name} ({})", e.reason.as_deref().unwrap_or("unreadable"))),
            }
        }
        let _ = write!(h, "<div class=\"grid\">{kept}{out}</div>");
        if !faceless.is_empty() {
            let _ = write!(h, "<p class=\"meta\">Not used: {}</p>", esc(&faceless.join(", ")));
        }
        h.push('\n');
    }
}

/// Duplicates.
fn section_duplicates(h: &mut String, i: &Input<'_>) {
    h.push_str("<h2 id=\"duplicates\">Removed faces and near duplicates</h2>\n");
    let removed: Vec<_> = i.dataset.files.iter().filter(|f| f.fate == Fate::Removed).collect();
    if removed.is_empty() {
        h.push_str("<p>No face was removed: no exact duplicates, no conflicting labels, no unreadable file.</p>\n");
    } else {
        h.push_str("<table><tr><th>face</th><th>why</th><th>duplicate of</th><th>detail</th></tr>\n");
        for r in removed {
            let mut a = String::new();
            figure(&mut a, &format!("{}/{}", crate::FACES, r.path), &r.path, None, "out");
            let mut b = String::new();
            if let Some(d) = &r.duplicate_of {
                figure(&mut b, &format!("{}/{d}", crate::FACES), d, None, "");
            }
            let _ = writeln!(
                h,
                "<tr><td>{a}</td><td>{}</td><td>{b}</td><td>{}</td></tr>",
                esc(r.reason.as_deref().unwrap_or("")),
                esc(r.detail.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>\n");
    }
    if !i.dataset.near_duplicates.is_empty() {
        h.push_str(
            "<h3>Near duplicates (pHash; kept, each group in one split so none straddles train and test)</h3>\
             <table><tr><th>face</th><th>face</th><th class=\"n\">distance</th><th>mirrored</th></tr>\n",
        );
        for n in &i.dataset.near_duplicates {
            let (mut a, mut b) = (String::new(), String::new());
            figure(&mut a, &format!("{}/{}", crate::FACES, n.a), &n.a, None, "");
            figure(&mut b, &format!("{}/{}", crate::FACES, n.b), &n.b, None, "");
            let _ = writeln!(
                h,
                "<tr><td>{a}</td><td>{b}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                n.distance,
                if n.mirrored { "yes" } else { "no" }
            );
        }
        h.push_str("</table>\n");
    }
}

/// Training.
fn section_training(h: &mut String, i: &Input<'_>) {
    let s = i.summary;
    let st = &s.stages;
    let t = &st.train;
    let run_rel = rel_to(i.work, i.run_dir);
    let _ = write!(
        h,
        "<h2 id=\"training\">Training</h2><p>Run <code>{}</code>: {} mode, {} train / {} validation / {} test faces, \
         {} epochs (best {}{}). Validation accuracy <b>{}</b>, test accuracy <b>{}</b>.</p>\n<div class=\"plots\">",
        esc(&run_rel),
        esc(&t.mode),
        t.train_faces,
        t.val_faces,
        t.test_faces,
        t.epochs,
        t.best_epoch,
        if t.stopped_early { ", early stop on validation loss" } else { "" },
        pct(t.val_accuracy),
        pct(t.test_accuracy)
    );
    for (file, alt) in [("curves.png", "loss and accuracy per epoch"), ("confusion.png", "confusion matrix (test)")] {
        if i.run_dir.join(file).is_file() {
            let _ = write!(h, "<img src=\"{}\" alt=\"{}\">", href(&format!("{run_rel}/{file}")), esc(alt));
        }
    }
    h.push_str("</div>\n");
    if let Some(test) = i.test {
        let cm = &test["confusion_matrix"];
        if let (Some(labels), Some(matrix)) = (cm["labels"].as_array(), cm["matrix"].as_array()) {
            h.push_str(
                "<details><summary>The confusion matrix as a table (test; rows: true person, columns: \
                 predicted)</summary><table><tr><th></th>",
            );
            for l in labels {
                let _ = write!(h, "<th class=\"n\">{}</th>", esc(l.as_str().unwrap_or("")));
            }
            h.push_str("</tr>\n");
            for (r, row) in labels.iter().zip(matrix) {
                let _ = write!(h, "<tr><th>{}</th>", esc(r.as_str().unwrap_or("")));
                for (c, v) in row.as_array().into_iter().flatten().enumerate() {
                    let n = v.as_u64().unwrap_or(0);
                    let diag = labels.get(c) == Some(r);
                    let class = if n == 0 {
                        ""
                    } else if diag {
                        " ok"
                    } else {
                        " bad"
                    };
                    let _ = write!(h, "<td class=\"n{class}\">{n}</td>");
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table></details>\n");
        }
        let mistakes = test["mistakes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if !mistakes.is_empty() {
            h.push_str("<h3>Test mistakes</h3><table><tr><th>face</th><th>person</th><th>predicted</th></tr>\n");
            for m in mistakes {
                let file = m["file"].as_str().unwrap_or("");
                let mut fig = String::new();
                figure(&mut fig, &format!("{}/{file}", crate::DATASET), file, None, "");
                let _ = writeln!(
                    h,
                    "<tr><td>{fig}</td><td>{}</td><td class=\"bad\">{}</td></tr>",
                    esc(m["label"].as_str().unwrap_or("")),
                    esc(m["predicted"].as_str().unwrap_or(""))
                );
            }
            h.push_str("</table>\n");
        }
    }
}

/// Unknown rejection.
fn section_unknown_rejection(h: &mut String, i: &Input<'_>) {
    let s = i.summary;
    let os = &s.open_set;
    let st = &s.stages;
    let cal = &i.train_card.open_set;
    let _ = write!(
        h,
        "<h2 id=\"unknown\">Unknown rejection</h2><p>A face is answered <code>unknown</code> when its score is below \
         the threshold. Chosen rule: <b>{}</b> ≥ {:.4}. Calibrated on {} validation faces: {}</p>\n\
         <table><tr><th>rule</th><th class=\"n\">threshold</th><th class=\"n\">known accepted</th>\
         <th class=\"n\">unknown rejected</th><th class=\"n\">balanced accuracy</th><th class=\"n\">AUC</th></tr>\n",
        esc(&os.rule),
        os.threshold,
        os.val_faces,
        esc(&cal.method)
    );
    for (rule, r) in [("max_probability", &cal.max_probability), ("centroid_cosine", &cal.centroid_cosine)] {
        let _ = writeln!(
            h,
            "<tr><td>{}{}</td><td class=\"n\">{:.4}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td>\
             <td class=\"n\">{:.3}</td></tr>",
            rule,
            if rule == os.rule { " <span class=\"ok\">(chosen)</span>" } else { "" },
            r.threshold,
            pct(r.known_accept),
            pct(r.unknown_reject),
            pct(r.balanced_accuracy),
            r.auc
        );
    }
    h.push_str("</table>\n");
    if let Some(x) = &st.strangers {
        let _ = write!(
            h,
            "<h3>People not trained on</h3><p>{} faces in {} photos of <code>{}</code>, labelled by the exported \
             model: \
             <b>{} of {}</b> answered unknown.</p><div class=\"grid\">",
            x.faces,
            x.photos,
            esc(&crate::show(Path::new(&x.folder))),
            x.unknown,
            x.faces
        );
        for a in &x.answers {
            let caption = format!("{} → {} (best {} p={:.2})", a.photo, a.label, a.best, a.probability);
            let class = if a.label == issc_predict::UNKNOWN { "" } else { "out" };
            figure(h, &a.crop, &caption, None, class);
        }
        h.push_str("</div>\n");
        if !x.errors.is_empty() {
            let _ = write!(h, "<p class=\"bad\">Unreadable: {}</p>", esc(&x.errors.join("; ")));
        }
    }
}

/// Model.
fn section_model(h: &mut String, i: &Input<'_>) {
    let s = i.summary;
    let m = i.model;
    let model_rel = rel_to(i.work, Path::new(&s.model));
    let _ = writeln!(
        h,
        "<h2 id=\"model\">Exported model</h2><table>\
         <tr><th>folder</th><td><code>{}</code> (<code>issc predict --model {} photo.jpg</code>)</td></tr>\
         <tr><th>graph</th><td><code>{}</code>, {:.1} MB, ONNX opset {}</td></tr>\
         <tr><th>sha256</th><td><code>{}</code></td></tr>\
         <tr><th>labels ({})</th><td>{}</td></tr>\
         <tr><th>unknown rule</th><td>{} ≥ {:.4}</td></tr>\
         <tr><th>verification threshold</th><td>cosine ≥ {:.3}</td></tr>\
         <tr><th>export check</th><td>{}</td></tr>\
         <tr><th>input</th><td>{} {} {} {} {}, {}</td></tr></table>",
        esc(&model_rel),
        esc(&crate::show(Path::new(&s.model))),
        esc(&m.model.file),
        m.model.bytes as f64 / 1e6,
        m.model.opset,
        esc(&m.model.sha256),
        m.labels.len(),
        esc(&m.labels.join(", ")),
        esc(&m.rejection.score),
        m.rejection.threshold,
        m.verification_threshold,
        m.export_check.as_ref().map_or_else(
            || "not run".to_string(),
            |c| esc(&format!(
                "graph vs trained model on {} faces: max |Δprobability| = {:.1e} ({})",
                c.faces, c.max_abs_diff_probabilities, c.engine
            ))
        ),
        esc(&m.input.name),
        esc(&serde_json::to_string(&m.input.shape).unwrap_or_default()),
        esc(&m.input.layout),
        esc(&m.input.color),
        esc(&m.input.dtype),
        esc(&m.input.range)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_links() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(href("faces/Ada Lovelace/a&b.png"), "faces/Ada%20Lovelace/a%26b.png");
        assert_eq!(href("x/\"><script>"), "x/%22%3E%3Cscript%3E");
    }
}
