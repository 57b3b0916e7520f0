//! The library's stages on real photos and real models (the repository's `tests/fixtures` and `models/`), without
//! the command line: the crop stage's output and restart, settings errors that name settings, and `pipeline.toml`
//! checks.

use std::path::{Path, PathBuf};

use issc_pipeline::crop::{CropStatus, MANIFEST, crop, pending, read_manifest};
use issc_pipeline::{CropOptions, FetchSettings, PhotoSource, PipelineConfig, Runtime, RuntimeOptions, SearchProvider};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn runtime() -> Runtime {
    let mut o = RuntimeOptions::default();
    o.models = Some(repo().join("models"));
    Runtime::new(o)
}

#[test]
fn crop_writes_aligned_crops_and_a_manifest_then_skips_what_is_done() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    for person in ["Angelina_Jolie", "Jennifer_Aniston"] {
        let dir = input.join(person);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(repo().join("tests/fixtures/people").join(person)).unwrap().take(2) {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    std::fs::write(input.join("Jennifer_Aniston/notes.txt"), "not a photo, not an error").unwrap();
    std::fs::write(input.join("Jennifer_Aniston/broken.jpg"), b"\xff\xd8\xff\xe0 not a jpeg").unwrap();
    let out = tmp.path().join("crops");
    let rt = runtime();
    let opts = CropOptions::default();

    assert_eq!(pending(&input, &out, &opts).unwrap(), (5, 5), "4 photos and the broken one; notes.txt is not a photo");
    let s = crop(&rt, &input, &out, &opts, &()).unwrap();
    assert_eq!((s.photos, s.processed, s.skipped, s.failed), (5, 5, 0, 1), "{s:?}");
    assert!(s.faces >= 4, "a face in every portrait: {s:?}");
    let entries = read_manifest(&out.join(MANIFEST)).unwrap();
    for e in entries.iter().filter(|e| e.status == CropStatus::Ok) {
        let crop = image::open(out.join(e.crop.as_ref().unwrap())).unwrap();
        assert_eq!((crop.width(), crop.height()), (112, 112));
        assert!(e.label.is_some() && e.landmarks.is_some() && e.score.unwrap() >= 0.6);
    }
    let broken = entries.iter().find(|e| e.source.ends_with("broken.jpg")).unwrap();
    assert_eq!(broken.status, CropStatus::Error);
    assert!(broken.error.as_deref().unwrap_or("").contains("broken.jpg"), "{broken:?}");

    // A rerun does only the failed photo again; other settings (another size) redo everything.
    assert_eq!(pending(&input, &out, &opts).unwrap(), (5, 1));
    let again = crop(&rt, &input, &out, &opts, &()).unwrap();
    assert_eq!((again.processed, again.skipped), (1, 4));
    let mut bigger = CropOptions::default();
    bigger.size = 128;
    assert_eq!(pending(&input, &out, &bigger).unwrap(), (5, 5));
}

#[test]
fn settings_errors_name_the_setting_never_a_flag() {
    let mut o = CropOptions::default();
    o.margin = -1.0;
    let e = o.validate().unwrap_err().to_string();
    assert!(e.contains("margin") && e.contains("-1") && !e.contains("--"), "{e}");

    let mut f = FetchSettings::default();
    f.timeout = 0.0;
    let e = f.validate().unwrap_err().to_string();
    assert!(e.contains("timeout") && !e.contains("--"), "{e}");

    // A licence filter only where licences are known.
    let mut f = FetchSettings::default();
    f.license = Some("cc-by".into());
    let source = PhotoSource::search("Ada Lovelace", SearchProvider::Bing);
    let e = issc_pipeline::fetch::open_source(&source, &f).err().expect("refused").to_string();
    assert!(e.contains("license") && e.contains("Bing"), "{e}");
    let commons = PhotoSource::search("Ada Lovelace", SearchProvider::Commons);
    assert!(issc_pipeline::fetch::open_source(&commons, &f).is_ok());
}

#[test]
fn pipeline_files_are_checked_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    for d in ["people/Ada", "people/Grace"] {
        std::fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    let file = tmp.path().join("pipeline.toml");
    let load = |text: &str| {
        std::fs::write(&file, text).unwrap();
        PipelineConfig::load(&file, None)
    };
    let two = "[[person]]\nlabel = \"Ada\"\ndir = \"people/Ada\"\n[[person]]\nlabel = \"Grace\"\n";
    let ok = load(&format!("work = \"w\"\n{two}query = \"Grace Hopper\"\nprovider = \"bing\"\n")).unwrap();
    assert!(matches!(&ok.people[1].source, PhotoSource::Query { provider: SearchProvider::Bing, .. }));
    assert_eq!(ok.work, tmp.path().canonicalize().unwrap().join("w"));

    let cases = [
        (format!("{two}dir = \"people/Grace\"\n"), vec!["work", "missing"]),
        (format!("work = \"w\"\n[crop]\nscore = 2.0\n{two}dir = \"people/Grace\"\n"), vec!["[crop]", "score"]),
        (format!("work = \"w\"\n[fetch]\ncolour = 1\n{two}dir = \"people/Grace\"\n"), vec!["colour", "concurrency"]),
        (format!("work = \"w\"\n{two}dir = \"people/Grace\"\nprovider = \"bing\"\n"), vec!["provider", "query"]),
        (format!("work = \"w\"\n{two}query = \"G\"\nprovider = \"bing\"\ncategory = \"C\"\n"), vec!["category"]),
        (format!("work = \"w\"\n[train]\nepochs = 0\n{two}dir = \"people/Grace\"\n"), vec!["[train]", "epochs"]),
    ];
    for (text, words) in cases {
        let e = load(&text).err().unwrap_or_else(|| panic!("accepted:\n{text}")).to_string();
        assert!(e.contains("pipeline.toml"), "names the file: {e}");
        for w in words {
            assert!(e.contains(w), "{w:?} not in: {e}");
        }
    }
    assert!(!tmp.path().join("w").exists(), "nothing written");
}
