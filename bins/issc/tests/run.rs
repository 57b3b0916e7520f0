//! `issc run`: the whole pipeline from `examples/pipeline.toml` (photos bundled in the repository) into a temporary
//! work folder; every stage's outputs, the report, a second run that skips everything, a changed setting that
//! redoes only what it touches, the exported model answering `issc predict`, and bad configs refused with clear
//! messages before anything is written.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::*;
use serde_json::Value;

const PEOPLE: [&str; 6] =
    ["Angelina_Jolie", "Barack_Obama", "Jennifer_Aniston", "Jim_Parsons", "Kaley_Cuoco", "Mark_Zuckerberg"];

fn example() -> PathBuf {
    repo().join("examples/pipeline.toml")
}

fn run_json(config: &Path, work: &Path) -> Value {
    let (c, w) = (config.display().to_string(), work.display().to_string());
    let out = ok(&issc("ort", &["run", "--config", &c, "--work", &w, "--json"]));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn stages(v: &Value) -> Vec<(&str, &Value)> {
    ["fetch", "crop", "prepare", "train", "export", "strangers"].iter().map(|s| (*s, &v["stages"][*s])).collect()
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn example_pipeline_runs_end_to_end_then_is_up_to_date() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let started = Instant::now();
    let v = run_json(&example(), &work);
    let cold = started.elapsed().as_secs_f64();
    for (name, s) in stages(&v) {
        assert_eq!(s["up_to_date"], false, "{name} ran on a fresh work folder: {s}");
    }
    let st = &v["stages"];
    println!(
        "cold run: {cold:.1} s · {} photos · {} faces, {} kept · train {} val {} test {} · {} epochs · \
         test accuracy {} · \
         {} ≥ {:.3}: known accepted {}, unknown rejected {} · strangers {}/{} unknown",
        st["fetch"]["stored"],
        st["crop"]["faces"],
        st["crop"]["kept"],
        st["prepare"]["train"],
        st["prepare"]["val"],
        st["prepare"]["test"],
        st["train"]["epochs"],
        v["test_accuracy"],
        v["open_set"]["rule"],
        f(&v["open_set"]["threshold"]),
        v["open_set"]["known_accept"],
        v["open_set"]["unknown_reject"],
        st["strangers"]["unknown"],
        st["strangers"]["faces"],
    );

    // Counts: 28 bundled photos of 6 people; the group photo's 3 bystanders left out.
    assert_eq!(v["people"].as_array().unwrap().len(), 6);
    assert_eq!(st["fetch"]["stored"], 28);
    assert_eq!(st["fetch"]["downloaded"], 28);
    assert_eq!(st["crop"]["photos"], 28);
    assert_eq!(st["crop"]["kept"], 28, "one face per photo");
    assert!(
        st["crop"]["left_out"].as_u64().unwrap() >= 3,
        "the bystanders of Jennifer_Aniston_0004.jpg: {}",
        st["crop"]
    );
    let split: u64 = ["train", "val", "test", "removed"].iter().map(|k| st["prepare"][k].as_u64().unwrap()).sum();
    assert_eq!(split, 28);
    assert!(st["prepare"]["test"].as_u64().unwrap() >= 6 && st["prepare"]["val"].as_u64().unwrap() >= 6);
    let acc = f(&v["test_accuracy"]);
    assert!(acc >= 0.8, "test accuracy {acc}");
    assert_eq!(st["export"]["labels"].as_array().unwrap().len(), 6);
    assert!(f(&st["export"]["parity"]) <= 1e-4);
    let (strangers, unknown) =
        (st["strangers"]["faces"].as_u64().unwrap(), st["strangers"]["unknown"].as_u64().unwrap());
    assert!(strangers >= 5 && unknown + 1 >= strangers, "strangers: {}", st["strangers"]);

    // Every stage's outputs.
    for p in [
        "issc-run.json",
        "report.html",
        "raw/manifest.jsonl",
        "crops/crops.jsonl",
        "crops/settings.json",
        "dataset/dataset.json",
        "runs/head/model.json",
        "runs/head/curves.png",
        "runs/head/confusion.png",
        "runs/head/best/model.bpk",
        "model/model.onnx",
        "model/model.json",
        "strangers/results.json",
    ] {
        assert!(work.join(p).is_file(), "{p} missing");
    }
    for person in PEOPLE {
        let photos = files_in(&repo().join("examples/people").join(person));
        assert_eq!(files_in(&work.join("raw").join(person)), photos, "raw/{person}");
        assert_eq!(files_in(&work.join("faces").join(person)), photos, "faces/{person}: one face per photo");
    }
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(work.join("issc-run.json")).unwrap()).unwrap();
    assert_eq!(summary["state"], "done");
    assert_eq!(summary["model"], v["model"]);
    let leftovers: Vec<_> = walkdir::WalkDir::new(&work)
        .into_iter()
        .map(|e| e.unwrap().path().to_path_buf())
        .filter(|p| p.extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // The report: every person, the accuracy, the plots, nothing external, every image there.
    let html = std::fs::read_to_string(work.join("report.html")).unwrap();
    for person in PEOPLE {
        assert!(html.contains(person), "{person} not in the report");
    }
    assert!(html.contains(&format!("{:.1} %", 100.0 * acc)), "test accuracy not in the report");
    assert!(html.contains("runs/head/curves.png") && html.contains("runs/head/confusion.png"));
    assert!(html.contains("Jennifer_Aniston_0004.jpg"), "photos are shown under their original names");
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"), "self-contained");
    let mut images = 0;
    for part in html.split("src=\"").skip(1) {
        let src = part.split('"').next().unwrap();
        assert!(work.join(src).is_file(), "report image {src} missing");
        images += 1;
    }
    assert!(images >= 28 + 6 + 2, "{images} images in the report");

    // A second run: every stage up to date, nothing redone (its time is printed, not asserted: timings belong in
    // benchmarks).
    let (c, w) = (example().display().to_string(), work.display().to_string());
    let started = Instant::now();
    let again = ok(&issc("ort", &["run", "--config", &c, "--work", &w]));
    let warm = started.elapsed().as_secs_f64();
    println!("second run: {warm:.2} s\n{again}");
    for stage in ["fetch", "crop", "prepare", "train", "export", "strangers"] {
        let line =
            again.lines().find(|l| l.trim_start().starts_with(stage)).unwrap_or_else(|| panic!("{stage}: {again}"));
        assert!(line.contains("up to date"), "{line}");
    }
    assert!(again.contains("test accuracy") && again.contains("report.html"), "{again}");
    let v2 = run_json(&example(), &work);
    for (name, s) in stages(&v2) {
        assert_eq!(s["up_to_date"], true, "{name}: {s}");
    }
    assert_eq!(v2["stages"]["export"]["sha256"], v["stages"]["export"]["sha256"], "the model was not rebuilt");

    // The exported model names the people of the bundled photos (the group photo: Jennifer Aniston among others),
    // and a stranger is unknown.
    let m = work.join("model").display().to_string();
    let photo = |p: &str| repo().join("examples").join(p).display().to_string();
    let photos = [
        photo("people/Barack_Obama/Barack_Obama_0004.jpg"),
        photo("people/Jennifer_Aniston/Jennifer_Aniston_0004.jpg"),
        photo("people/Kaley_Cuoco/Kaley_Cuoco_0001.png"),
        photo("strangers/Elon_Musk_0003.jpg"),
    ];
    let mut args = vec!["predict", "--model", &m, "--json"];
    args.extend(photos.iter().map(String::as_str));
    let lines = json_lines(&ok(&issc("ort", &args)));
    let labels: Vec<Vec<String>> = lines
        .iter()
        .map(|l| l["faces"].as_array().unwrap().iter().map(|f| f["label"].as_str().unwrap().to_string()).collect())
        .collect();
    println!("issc predict: {labels:?}");
    assert_eq!(labels[0], ["Barack_Obama"]);
    assert!(labels[1].contains(&"Jennifer_Aniston".to_string()), "{:?}", labels[1]);
    assert_eq!(labels[2], ["Kaley_Cuoco"]);
    assert_eq!(labels[3], ["unknown"]);
}

/// A config like the example's, with absolute paths, `extra` appended to `[train]`.
fn config_with(dir: &Path, work: &Path, train: &str) -> PathBuf {
    let ex = repo().join("examples");
    let mut text = format!(
        "work = {:?}\nstrangers = {:?}\n[fetch]\nmax = 50\n[crop]\nfaces = \"largest\"\n[prepare]\n\
         split = [0.6, 0.2, 0.2]\n\
         seed = 42\n[train]\nmode = \"head\"\nseed = 42\n{train}\n",
        work.display().to_string(),
        ex.join("strangers").display().to_string()
    );
    for p in PEOPLE {
        text.push_str(&format!(
            "[[person]]\nlabel = {p:?}\ndir = {:?}\n",
            ex.join("people").join(p).display().to_string()
        ));
    }
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_changed_setting_redoes_only_the_stages_it_touches() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let config = config_with(tmp.path(), &work, "");
    let first = run_json(&config, &work);
    assert_eq!(first["stages"]["train"]["up_to_date"], false);

    // Another head: fetch, crop and prepare stay; train, export and the strangers' answers are redone.
    let config = config_with(tmp.path(), &work, "hidden = 16\nepochs = 50");
    let v = run_json(&config, &work);
    let up = |s: &str| v["stages"][s]["up_to_date"].as_bool().unwrap();
    assert!(up("fetch") && up("crop") && up("prepare"), "{}", v["stages"]);
    assert!(!up("train") && !up("export") && !up("strangers"), "{}", v["stages"]);
    assert_eq!(v["stages"]["train"]["epochs"].as_u64().unwrap(), 50);
    let card: Value = serde_json::from_str(&std::fs::read_to_string(work.join("model/model.json")).unwrap()).unwrap();
    assert_eq!(card["training"]["head"]["hidden"], 16, "the export is of the new run");

    // Keeping every face of each photo: the bystanders join the dataset, everything after crop is redone.
    let text = std::fs::read_to_string(&config).unwrap().replace("faces = \"largest\"", "faces = \"all\"");
    std::fs::write(&config, text).unwrap();
    let v = run_json(&config, &work);
    let up = |s: &str| v["stages"][s]["up_to_date"].as_bool().unwrap();
    assert!(up("fetch") && !up("crop") && !up("prepare") && !up("train"), "{}", v["stages"]);
    assert_eq!(v["stages"]["crop"]["kept"], v["stages"]["crop"]["faces"]);
    assert_eq!(files_in(&work.join("faces/Jennifer_Aniston")), v["people"][2]["faces"].as_u64().unwrap() as usize);

    // An interrupted training run (model.json missing) with the same settings is resumed.
    std::fs::remove_file(work.join("runs/head/model.json")).unwrap();
    let v = run_json(&config, &work);
    assert_eq!(v["stages"]["train"]["resumed"], true, "{}", v["stages"]["train"]);
    assert!(work.join("runs/head/model.json").is_file());
}

#[test]
fn duplicate_faces_are_removed_and_shown_in_the_report() {
    // Kaley_Cuoco's photos plus the same pixels saved again as an RGB PNG (other bytes, so fetch keeps both; the same
    // face crop, so prepare removes one as an exact duplicate of the other), and Jim_Parsons's.
    let tmp = tempfile::tempdir().unwrap();
    let people = repo().join("examples/people");
    let kaley = tmp.path().join("kaley");
    std::fs::create_dir_all(&kaley).unwrap();
    for e in std::fs::read_dir(people.join("Kaley_Cuoco")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, kaley.join(p.file_name().unwrap())).unwrap();
    }
    let img = issc_core::load_image(people.join("Kaley_Cuoco/Kaley_Cuoco_0001.png"), &Default::default()).unwrap();
    img.rgb.save(kaley.join("Kaley_Cuoco_0001_again.png")).unwrap();
    let work = tmp.path().join("work");
    let config = tmp.path().join("dups.toml");
    std::fs::write(
        &config,
        format!(
            "work = \"work\"\n[prepare]\nsplit = [0.6, 0.2, 0.2]\n[[person]]\nlabel = \"Kaley_Cuoco\"\ndir = \"kaley\"\n\
             [[person]]\nlabel = \"Jim_Parsons\"\ndir = {:?}\n",
            people.join("Jim_Parsons").display().to_string()
        ),
    )
    .unwrap();
    let v = run_json(&config, &work);
    let p = &v["stages"]["prepare"];
    assert_eq!(v["stages"]["fetch"]["stored"], 11, "{}", v["stages"]["fetch"]);
    assert_eq!(p["removed_by_reason"]["exact_duplicate"], 1, "{p}");
    assert!(v["stages"].get("strangers").is_none(), "no strangers folder, no strangers stage");
    let dataset: Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("dataset/dataset.json")).unwrap()).unwrap();
    let removed = dataset["files"].as_array().unwrap().iter().find(|f| f["reason"] == "exact_duplicate").unwrap();
    let (file, original) = (removed["path"].as_str().unwrap(), removed["duplicate_of"].as_str().unwrap());
    let html = std::fs::read_to_string(work.join("report.html")).unwrap();
    let section = &html[html.find("id=\"duplicates\"").unwrap()..html.find("id=\"training\"").unwrap()];
    assert!(section.contains("exact_duplicate"), "{section}");
    assert!(section.contains(&format!("faces/{file}")) && section.contains(&format!("faces/{original}")), "{section}");
}

/// Run `issc run` on `text` (written to a config in `dir`) with `dir` as the current folder and no SerpAPI key.
fn bad(dir: &Path, name: &str, text: &str) -> (String, PathBuf) {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, text).unwrap();
    let work = dir.join(format!("{name}-work"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_issc"))
        .current_dir(dir)
        .args(["--engine", "ort", "run", "--config", &config.display().to_string()])
        .env_remove("SERPAPI_API_KEY")
        .env_remove("ISSC_ENGINE")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{name}: accepted");
    let err = stderr(&out);
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "{name}: one error: {err}");
    assert!(err.contains(&format!("{name}.toml")), "{name}: the message names the file: {err}");
    assert!(!work.exists(), "{name}: wrote {}", work.display());
    (err, work)
}

#[test]
fn bad_configs_are_refused_with_clear_messages_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("ada")).unwrap();
    std::fs::create_dir_all(d.join("grace")).unwrap();
    let person = |label: &str, src: &str| format!("[[person]]\nlabel = \"{label}\"\n{src}\n");
    let two = format!("{}{}", person("Ada", "dir = \"ada\""), person("Grace", "dir = \"grace\""));
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unknown_key",
            format!("work = \"unknown_key-work\"\ncolour = \"red\"\n{two}"),
            vec!["colour", "unknown field"],
        ),
        (
            "unknown_train_key",
            format!("work = \"unknown_train_key-work\"\n[train]\nepochz = 3\n{two}"),
            vec!["epochz", "unknown field", "epochs"],
        ),
        (
            "no_source",
            format!("work = \"no_source-work\"\n{}[[person]]\nlabel = \"Grace\"\n", person("Ada", "dir = \"ada\"")),
            vec!["[[person]] #2", "Grace", "no photo sources", "dir", "urls", "query"],
        ),
        (
            "two_sources",
            format!(
                "work = \"two_sources-work\"\n{}{}",
                person("Ada", "dir = \"ada\"\nquery = \"Ada Lovelace\""),
                person("Grace", "dir = \"grace\"")
            ),
            vec!["[[person]] #1", "several photo sources", "exactly one"],
        ),
        (
            "missing_folder",
            format!(
                "work = \"missing_folder-work\"\n{}{}",
                person("Ada", "dir = \"ada\""),
                person("Grace", "dir = \"photos/grace\"")
            ),
            vec!["[[person]] #2", "Grace", "photos/grace", "not a folder", "relative to the config file"],
        ),
        (
            "query_without_key",
            format!(
                "work = \"query_without_key-work\"\n{}{}",
                person("Ada", "query = \"Ada Lovelace\"\nprovider = \"serpapi\""),
                person("Grace", "dir = \"grace\"")
            ),
            vec!["[[person]] #1", "SERPAPI_API_KEY", ".env"],
        ),
        ("one_person", format!("work = \"one_person-work\"\n{}", person("Ada", "dir = \"ada\"")), vec!["at least two"]),
        (
            "same_label",
            format!(
                "work = \"same_label-work\"\n{}{}",
                person("Ada", "dir = \"ada\""),
                person("ada", "dir = \"grace\"")
            ),
            vec!["[[person]] #2", "#1", "labels must differ"],
        ),
        ("no_work", two.clone(), vec!["work", "missing", "--work"]),
        (
            "bad_split",
            format!("work = \"bad_split-work\"\n[prepare]\nsplit = [0.9, 0.2, 0.1]\n{two}"),
            vec!["[prepare]", "sum to 1"],
        ),
        ("not_toml", format!("work = \"not_toml-work\"\n[fetch\n{two}"), vec!["TOML parse error"]),
    ];
    for (name, text, wanted) in cases {
        let (err, _) = bad(d, name, &text);
        println!("{name}: {}", err.trim());
        for w in wanted {
            assert!(err.contains(w), "{name}: {w:?} not in: {err}");
        }
    }

    // A work folder holding something else is never filled.
    let foreign = d.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let config = d.join("foreign.toml");
    std::fs::write(&config, format!("work = \"foreign\"\n{two}")).unwrap();
    let o = issc_in(d, "ort", &["run", "--config", &config.display().to_string()]);
    assert!(!o.status.success() && stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(files_in(&foreign), 1, "nothing written into a foreign folder");
}

#[test]
fn run_help_documents_the_config() {
    let help = ok(&issc("ort", &["run", "--help"]));
    for w in ["--config", "--work", "--json", "[[person]]", "faces = \"largest\"", "query =", "urls =", "up to date"] {
        assert!(help.contains(w), "{w:?} not in `issc run --help`");
    }
    assert!(ok(&issc("ort", &["--help"])).contains("run"));
}
