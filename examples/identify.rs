//! Detects the faces in a photo and identifies each against a large person group.
//!
//! ```text
//! cargo run --example identify -- PHOTO --group GROUP_ID [--max N] [--threshold T]
//! ```
//!
//! Endpoint and key come from AZURE_FACE_ENDPOINT and AZURE_FACE_KEY (or a `.env` file). Works against Azure
//! and any server that speaks the Face v1.2 API.

use std::collections::HashMap;
use std::process::ExitCode;

use azure_face_client::{DetectOptions, DetectionModel, FaceClient, IdentifyOptions, RecognitionModel, Uuid};

const USAGE: &str = "usage: identify PHOTO --group LARGE_PERSON_GROUP_ID [--max CANDIDATES (1-100, default 3)] \
[--threshold 0..1]\n\nEndpoint and key are read from AZURE_FACE_ENDPOINT and AZURE_FACE_KEY (or .env).";

struct Args {
    photo: String,
    group: String,
    max: u32,
    threshold: Option<f64>,
}

fn parse_args() -> Result<Args, String> {
    let mut photo = None;
    let mut group = None;
    let mut max = 3;
    let mut threshold = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--group" | "-g" => group = Some(it.next().ok_or("--group needs a value")?),
            "--max" => {
                let v = it.next().ok_or("--max needs a value")?;
                max = v.parse().map_err(|_| format!("--max: `{v}` is not a number"))?;
            }
            "--threshold" => {
                let v = it.next().ok_or("--threshold needs a value")?;
                threshold = Some(v.parse().map_err(|_| format!("--threshold: `{v}` is not a number"))?);
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ if photo.is_none() => photo = Some(a),
            _ => return Err(format!("unexpected argument {a}")),
        }
    }
    Ok(Args { photo: photo.ok_or("missing PHOTO")?, group: group.ok_or("missing --group GROUP_ID")?, max, threshold })
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

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let _ = dotenvy::dotenv();
    let client = FaceClient::from_env()?;
    let image = std::fs::read(&args.photo).map_err(|e| format!("cannot read {}: {e}", args.photo))?;

    // Query faces must be detected with the group's recognition model.
    let group = client.get_large_person_group(&args.group, true).await?;
    let model = group.recognition_model.clone().unwrap_or(RecognitionModel::Recognition01);
    println!("group `{}` ({}), recognition model {model}", group.large_person_group_id, group.name);

    let options = DetectOptions::new()
        .detection_model(DetectionModel::Detection03)
        .recognition_model(model)
        .return_face_id(true)
        .face_id_time_to_live(300);
    let faces = client.detect(image, &options).await?;
    if faces.is_empty() {
        println!("{}: no face found", args.photo);
        return Ok(());
    }
    println!("{}: {} face(s)", args.photo, faces.len());

    let mut identify = IdentifyOptions::new().max_num_of_candidates_returned(args.max);
    if let Some(t) = args.threshold {
        identify = identify.confidence_threshold(t);
    }
    let face_ids: Vec<Uuid> = faces.iter().filter_map(|f| f.face_id).collect();
    let mut results = HashMap::new();
    for chunk in face_ids.chunks(10) {
        for r in client.identify_from_large_person_group(chunk, &args.group, &identify).await? {
            results.insert(r.face_id, r.candidates);
        }
    }

    let mut names: HashMap<Uuid, String> = HashMap::new();
    for (i, face) in faces.iter().enumerate() {
        let r = face.face_rectangle;
        println!("face {} at left={} top={} width={} height={}", i + 1, r.left, r.top, r.width, r.height);
        let candidates = face.face_id.and_then(|id| results.get(&id)).cloned().unwrap_or_default();
        if candidates.is_empty() {
            println!("  no match");
        }
        for c in candidates {
            if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(c.person_id) {
                let name = match client.get_large_person_group_person(&args.group, c.person_id).await {
                    Ok(p) => p.name,
                    Err(_) => "?".to_owned(),
                };
                slot.insert(name);
            }
            let name = names.get(&c.person_id).map(String::as_str).unwrap_or("?");
            println!("  {name:<24} {}  confidence {:.3}", c.person_id, c.confidence);
        }
    }
    Ok(())
}
