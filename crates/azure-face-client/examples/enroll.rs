//! Creates (or reuses) a large person group, enrolls one person per folder, trains it and waits.
//!
//! ```text
//! cargo run -p azure-face-client --example enroll -- DIR --group GROUP_ID [--name NAME]
//! ```
//!
//! `DIR/<person>/*.jpg|jpeg|png|bmp|gif` are the photos; each must show exactly one face. Endpoint and key
//! come from AZURE_FACE_ENDPOINT and AZURE_FACE_KEY (or a `.env` file).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use azure_face_client::{
    AddFaceOptions, CreateCollectionRequest, CreatePersonRequest, DetectionModel, FaceClient, RecognitionModel,
};

const USAGE: &str = "usage: enroll DIR --group LARGE_PERSON_GROUP_ID [--name GROUP_NAME]\n\n\
DIR/<person>/*.jpg: one folder per person, one face per photo. The group is created with recognition_04 if it \
does not exist; persons with the folder's name are created and their photos added; then the group is trained.\n\
Endpoint and key are read from AZURE_FACE_ENDPOINT and AZURE_FACE_KEY (or .env).";

struct Args {
    dir: PathBuf,
    group: String,
    name: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut group = None;
    let mut name = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--group" | "-g" => group = Some(it.next().ok_or("--group needs a value")?),
            "--name" => name = Some(it.next().ok_or("--name needs a value")?),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {a}")),
        }
    }
    Ok(Args { dir: dir.ok_or("missing DIR")?, group: group.ok_or("missing --group GROUP_ID")?, name })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png" | "bmp" | "gif"))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let _ = dotenvy::dotenv();
    let client = FaceClient::from_env()?;

    let name = args.name.clone().unwrap_or_else(|| args.group.clone());
    let create = CreateCollectionRequest::new(name).recognition_model(RecognitionModel::Recognition04);
    match client.create_large_person_group(&args.group, &create).await {
        Ok(()) => println!("created large person group `{}`", args.group),
        Err(e) if e.code() == Some("LargePersonGroupExists") => {
            println!("large person group `{}` exists; adding to it", args.group)
        }
        Err(e) => return Err(e.into()),
    }

    let add = AddFaceOptions::new().detection_model(DetectionModel::Detection03);
    let (mut persons, mut added, mut skipped) = (0, 0, 0);
    for person_dir in sorted_entries(&args.dir)?.into_iter().filter(|p| p.is_dir()) {
        let person_name = person_dir.file_name().and_then(|n| n.to_str()).unwrap_or("unnamed").to_owned();
        let photos: Vec<PathBuf> = sorted_entries(&person_dir)?.into_iter().filter(|p| is_image(p)).collect();
        if photos.is_empty() {
            continue;
        }
        let person =
            client.create_large_person_group_person(&args.group, &CreatePersonRequest::new(&person_name)).await?;
        persons += 1;
        println!("{person_name}: person {}", person.person_id);
        for photo in photos.iter().take(248) {
            let bytes = match std::fs::read(photo) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("  skip {}: {e}", photo.display());
                    skipped += 1;
                    continue;
                }
            };
            match client.add_large_person_group_person_face(&args.group, person.person_id, bytes, &add).await {
                Ok(f) => {
                    added += 1;
                    println!("  + {} ({})", photo.display(), f.persisted_face_id);
                }
                // One bad photo (no face, several faces, too small) should not stop the enrolment.
                Err(e) if e.status() == Some(400) => {
                    skipped += 1;
                    eprintln!("  skip {}: {}", photo.display(), e.service_message().unwrap_or("rejected"));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    println!("{persons} person(s), {added} face(s) added, {skipped} photo(s) skipped; training…");
    let poller = client.begin_train_large_person_group(&args.group).await?;
    let progress = poller.wait().await?;
    println!("training {}", progress.status);
    Ok(())
}
