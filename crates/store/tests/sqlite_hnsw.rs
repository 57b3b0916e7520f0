//! `SqliteStore::with_hnsw`: a large trained collection is searched through an HNSW graph built in the background,
//! answering what the exact scan answers for the top person, with exact scores; deletions made while the graph
//! builds are honoured; a restart rebuilds it; small collections and stores without the setting stay exact.

use std::time::{Duration, Instant};

use issc_store::{FaceStore, HnswParams, HnswSetting, Kind, SqliteStore, Status, Uuid};
use rand::{Rng, SeedableRng};

#[path = "../benches/common/mod.rs"]
mod vectors;

use vectors::{DIM, face, random_unit};

const PER: usize = 4;

fn train(s: &SqliteStore, kind: Kind, id: &str) {
    let op = s.begin_training(kind, id).unwrap();
    s.run_training(kind, id, op.id).unwrap();
    assert_eq!(s.operation(op.id).unwrap().status, Status::Succeeded);
}

fn wait_for_graph(s: &SqliteStore, kind: Kind, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !s.searches_with_graph(kind, id) {
        assert!(Instant::now() < deadline, "no HNSW graph for {id} after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn large_collections_are_searched_through_a_graph_with_exact_scores() {
    let dir = tempfile::tempdir().unwrap();
    let setting = HnswSetting { min_faces: 2000, params: HnswParams::default() };
    let lpg = Kind::LargePersonGroup;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let centres: Vec<Vec<f32>> = (0..600).map(|_| random_unit(&mut rng)).collect();
    let queries: Vec<(usize, Vec<f32>)> = (0..200)
        .map(|_| {
            let p = rng.random_range(0..centres.len());
            (p, face(&centres[p], &mut rng))
        })
        .collect();

    let mut persons: Vec<Uuid> = Vec::new();
    {
        let s = SqliteStore::open(dir.path(), DIM).unwrap().with_hnsw(Some(setting));
        s.create_collection(lpg, "big", "big", None, "recognition_04").unwrap();
        s.create_collection(lpg, "small", "small", None, "recognition_04").unwrap();
        for (i, c) in centres.iter().enumerate() {
            persons.push(s.create_person(lpg, "big", &format!("p{i}"), None).unwrap());
            for _ in 0..PER {
                s.add_face(lpg, "big", Some(persons[i]), &face(c, &mut rng), None).unwrap();
            }
        }
        let lone = s.create_person(lpg, "small", "lone", None).unwrap();
        s.add_face(lpg, "small", Some(lone), &centres[0], None).unwrap();
        train(&s, lpg, "big");
        train(&s, lpg, "small");
        wait_for_graph(&s, lpg, "big");
        assert!(!s.searches_with_graph(lpg, "small"), "1 face is below min_faces");

        // The exact answer: the same database through a store without the graph.
        let exact = SqliteStore::open(dir.path(), DIM).unwrap();
        let (mut same_top, mut true_top) = (0, 0);
        for (p, q) in &queries {
            let (a, e) = (s.identify(lpg, "big", q, 10).unwrap(), exact.identify(lpg, "big", q, 10).unwrap());
            assert!(!exact.searches_with_graph(lpg, "big"));
            same_top += usize::from(a[0].0 == e[0].0);
            true_top += usize::from(a[0].0 == persons[*p]);
            for (person, score) in &a {
                if let Some((_, exact_score)) = e.iter().find(|(x, _)| x == person) {
                    assert_eq!(score.to_bits(), exact_score.to_bits(), "re-scored exactly: {person}");
                }
            }
        }
        eprintln!(
            "graph over {} faces: top person = exact {same_top}/200, = the true person {true_top}/200",
            600 * PER
        );
        assert!(same_top >= 198, "hit@1 against the exact scan: {same_top}/200");

        // Deleted persons are never returned by the graph.
        let (p, q) = &queries[0];
        assert!(queries[1].0 != *p && queries[2].0 != *p && queries[1].0 != queries[2].0, "three persons");
        s.delete_person(lpg, "big", persons[*p]).unwrap();
        assert!(s.identify(lpg, "big", q, 10).unwrap().iter().all(|(x, _)| *x != persons[*p]));
    }

    // After a restart the first search answers at once (exact scan) and the graph follows; a deletion made while
    // it builds is honoured once it is in.
    let s = SqliteStore::open(dir.path(), DIM).unwrap().with_hnsw(Some(setting));
    let (p, q) = &queries[1];
    assert_eq!(s.identify(lpg, "big", q, 1).unwrap()[0].0, persons[*p]);
    s.delete_person(lpg, "big", persons[*p]).unwrap();
    wait_for_graph(&s, lpg, "big");
    assert!(s.identify(lpg, "big", q, 10).unwrap().iter().all(|(x, _)| *x != persons[*p]), "deleted while building");
    let (p, q) = &queries[2];
    assert_eq!(s.identify(lpg, "big", q, 1).unwrap()[0].0, persons[*p]);
}
