//! The registry part of the conformance suite: models, versions, aliases and
//! their history, with every timestamp read from the store's clock.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use keel_types::{Clock, Code, JobId, ManualClock, ModelId, VersionId};

use super::by;
use super::{definition, files, new_version};
use crate::formats::VersionOrigin;
use crate::{AliasEvent, Page, RegistryStore, Stores};

pub(super) async fn suite(stores: &Stores, clock: &ManualClock) {
    models(&stores.registry, clock).await;
    versions(&stores.registry, clock).await;
    aliases(&stores.registry, clock).await;
    origins(&stores.registry).await;
}

async fn models(store: &Arc<dyn RegistryStore>, clock: &ManualClock) {
    let names = ["m3", "m0", "m6", "m1", "m5", "m2", "m4"];
    for n in names {
        clock.advance(Duration::seconds(1));
        let m = store.create_model(n, &by()).await.unwrap();
        assert_eq!(m.name, n);
        assert_eq!(m.latest_version, 0);
        assert_eq!(m.created_at, clock.now());
        assert_eq!(store.model_by_id(m.id).await.unwrap(), Some(m.clone()));
        assert_eq!(store.model_by_name(n).await.unwrap(), Some(m));
    }
    assert_eq!(store.model_by_name("nope").await.unwrap(), None);
    assert_eq!(store.model_by_id(ModelId::new()).await.unwrap(), None);

    let dup = store.create_model("m1", &by()).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup}");
    assert!(dup.to_string().contains("'m1'"), "{dup}");
    let bad = store.create_model("no spaces", &by()).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");

    // Page through by name, inserting in the middle to check the cursor
    // stays stable: what sorts before it is skipped, what sorts after appears.
    let p1 = store.list_models(&Page::first(3)).await.unwrap();
    let n1: Vec<_> = p1.items.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(n1, ["m0", "m1", "m2"]);
    let c1 = p1.next_cursor.expect("a second page");
    store.create_model("a-early", &by()).await.unwrap();
    store.create_model("m7", &by()).await.unwrap();
    let p2 = store.list_models(&Page::after(3, c1)).await.unwrap();
    let n2: Vec<_> = p2.items.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(n2, ["m3", "m4", "m5"]);
    let p3 = store
        .list_models(&Page::after(3, p2.next_cursor.expect("a third page")))
        .await
        .unwrap();
    let n3: Vec<_> = p3.items.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(n3, ["m6", "m7"]);
    assert_eq!(p3.next_cursor, None, "the last page has no cursor");

    // Names sort by their bytes whatever the database's collation: capitals
    // before small letters, punctuation by its code.
    for n in ["Zed", "a_b", "a.b"] {
        store.create_model(n, &by()).await.unwrap();
    }
    let all = store.list_models(&Page::default()).await.unwrap();
    let names: Vec<_> = all.items.iter().map(|m| m.name.clone()).collect();
    let mut bytewise = names.clone();
    bytewise.sort();
    assert_eq!(names, bytewise);
    assert_eq!(names[..4], ["Zed", "a-early", "a.b", "a_b"]);
    assert_eq!(all.items.len(), 12);
    assert_eq!(all.next_cursor, None);

    let bad = store
        .list_models(&Page::after(3, "not-a-cursor"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");
}

async fn versions(store: &Arc<dyn RegistryStore>, clock: &ManualClock) {
    let model = store.create_model("versioned", &by()).await.unwrap();
    let job = JobId::new();
    let def = definition("versioned");
    clock.advance(Duration::seconds(1));
    let v1 = store
        .create_version(
            &new_version(model.id, "hash-a", def.clone(), files("aa"), None),
            &by(),
        )
        .await
        .unwrap();
    assert_eq!(v1.created_at, clock.now());
    clock.advance(Duration::seconds(1));
    let v2 = store
        .create_version(
            &new_version(
                model.id,
                "hash-b",
                definition("retrained"),
                files("bb"),
                Some(job),
            ),
            &by(),
        )
        .await
        .unwrap();
    assert_eq!(v2.created_at, clock.now());
    let v3 = store
        .create_version(
            &new_version(model.id, "hash-a", def.clone(), vec![], None),
            &by(),
        )
        .await
        .unwrap();
    assert_eq!((v1.number, v2.number, v3.number), (1, 2, 3));
    assert_eq!(v1.model_name, "versioned");
    assert_eq!(v1.model_id, model.id);
    assert_eq!(v1.content_hash, "hash-a");
    let latest = store.model_by_id(model.id).await.unwrap().unwrap();
    assert_eq!(latest.latest_version, 3);

    assert_eq!(store.version_by_id(v2.id).await.unwrap(), Some(v2.clone()));
    assert_eq!(store.version_by_id(VersionId::new()).await.unwrap(), None);
    let got = store.version_by_number(model.id, 1).await.unwrap().unwrap();
    assert_eq!(got, v1);
    assert_eq!(got.definition, def);
    assert_eq!(got.files, files("aa"));
    assert_eq!(v2.source_job, Some(job));
    assert_eq!(v2.definition, definition("retrained"));
    assert_eq!(store.version_by_number(model.id, 4).await.unwrap(), None);
    assert_eq!(
        store.latest_version(model.id).await.unwrap(),
        Some(v3.clone())
    );
    assert_eq!(store.latest_version(ModelId::new()).await.unwrap(), None);
    assert_eq!(
        store.version_by_hash(model.id, "hash-a").await.unwrap(),
        Some(v3.clone()),
        "the newest version with the hash wins"
    );
    assert_eq!(store.version_by_hash(model.id, "zzz").await.unwrap(), None);

    let missing = store
        .create_version(
            &new_version(ModelId::new(), "h", def.clone(), vec![], None),
            &by(),
        )
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing}");

    // Concurrent registrations get dense, distinct numbers.
    let busy = store.create_model("busy", &by()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        let new = new_version(
            busy.id,
            &format!("h{i}"),
            definition(&format!("busy-{i}")),
            vec![],
            None,
        );
        tasks.push(tokio::spawn(async move {
            store.create_version(&new, &by()).await.map(|v| v.number)
        }));
    }
    let mut numbers = BTreeSet::new();
    for t in tasks {
        numbers.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(numbers, (1..=10).collect::<BTreeSet<u32>>());
    assert_eq!(
        store.latest_version(busy.id).await.unwrap().unwrap().number,
        10
    );

    let mut seen = Vec::new();
    let mut page = Page::first(4);
    let mut pages = 0;
    loop {
        let got = store.list_versions(busy.id, &page).await.unwrap();
        pages += 1;
        seen.extend(got.items.iter().map(|v| v.number));
        match got.next_cursor {
            Some(c) => page = Page::after(4, c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=10).collect::<Vec<u32>>());
    let empty = store
        .list_versions(ModelId::new(), &Page::default())
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.next_cursor.is_none());

    // A cursor belongs to the list that made it.
    let models_cursor = store.list_models(&Page::first(1)).await.unwrap();
    let foreign = Page::after(4, models_cursor.next_cursor.expect("more models"));
    let bad = store.list_versions(busy.id, &foreign).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");
}

async fn aliases(store: &Arc<dyn RegistryStore>, clock: &ManualClock) {
    let model = store.create_model("aliased", &by()).await.unwrap();
    let other = store.create_model("other", &by()).await.unwrap();
    let mut v = Vec::new();
    for i in 0..3 {
        let new = new_version(
            model.id,
            &format!("a{i}"),
            definition("aliased"),
            vec![],
            None,
        );
        v.push(store.create_version(&new, &by()).await.unwrap());
    }
    let foreign = store
        .create_version(
            &new_version(other.id, "f", definition("other"), vec![], None),
            &by(),
        )
        .await
        .unwrap();
    assert!(store.list_aliases(model.id).await.unwrap().is_empty());

    // Each move is stamped with the clock; `at` records when.
    let mut stamps = Vec::new();
    clock.advance(Duration::seconds(1));
    let e1 = store
        .set_alias(model.id, "champion", v[0].id, &by())
        .await
        .unwrap();
    stamps.push(clock.now());
    assert_eq!(
        e1,
        AliasEvent {
            model_id: model.id,
            alias: "champion".into(),
            from_version: None,
            to_version: Some(1),
            at: clock.now(),
        }
    );
    clock.advance(Duration::seconds(1));
    let e2 = store
        .set_alias(model.id, "champion", v[1].id, &by())
        .await
        .unwrap();
    stamps.push(clock.now());
    assert_eq!((e2.from_version, e2.to_version), (Some(1), Some(2)));
    let moved_at = clock.now();
    clock.advance(Duration::seconds(1));
    let same = store
        .set_alias(model.id, "champion", v[1].id, &by())
        .await
        .unwrap();
    assert_eq!((same.from_version, same.to_version), (Some(2), Some(2)));
    store
        .set_alias(model.id, "challenger", v[2].id, &by())
        .await
        .unwrap();
    stamps.push(clock.now());

    let champ = store.alias(model.id, "champion").await.unwrap().unwrap();
    assert_eq!((champ.version_id, champ.version_number), (v[1].id, 2));
    assert_eq!(champ.model_id, model.id);
    assert_eq!(
        champ.updated_at, moved_at,
        "setting an alias to where it points moves nothing"
    );
    assert_eq!(store.alias(model.id, "nope").await.unwrap(), None);
    let names: Vec<_> = store
        .list_aliases(model.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.alias, a.version_number))
        .collect();
    assert_eq!(
        names,
        [("challenger".to_string(), 3), ("champion".to_string(), 2)]
    );

    let wrong_model = store
        .set_alias(model.id, "champion", foreign.id, &by())
        .await
        .unwrap_err();
    assert_eq!(wrong_model.code(), Code::InvalidArgument, "{wrong_model}");
    clock.advance(Duration::seconds(1));
    let back = store
        .set_alias(model.id, "champion", v[0].id, &by())
        .await
        .unwrap();
    stamps.push(clock.now());
    assert_eq!((back.from_version, back.to_version), (Some(2), Some(1)));
    let back_now = store.alias(model.id, "champion").await.unwrap().unwrap();
    assert_eq!(back_now.updated_at, clock.now());
    let gone = store
        .set_alias(model.id, "champion", VersionId::new(), &by())
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone}");
    let bad = store
        .set_alias(model.id, "bad name", v[0].id, &by())
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");

    clock.advance(Duration::seconds(1));
    assert!(
        store
            .delete_alias(model.id, "champion", &by())
            .await
            .unwrap()
    );
    stamps.push(clock.now());
    assert!(
        !store
            .delete_alias(model.id, "champion", &by())
            .await
            .unwrap()
    );
    assert_eq!(store.alias(model.id, "champion").await.unwrap(), None);

    let history = store.alias_history(model.id).await.unwrap();
    let moves: Vec<_> = history
        .iter()
        .map(|e| (e.alias.clone(), e.from_version, e.to_version))
        .collect();
    let expect = [
        ("champion", None, Some(1)),
        ("champion", Some(1), Some(2)),
        ("challenger", None, Some(3)),
        ("champion", Some(2), Some(1)),
        ("champion", Some(1), None),
    ]
    .map(|(a, f, t)| (a.to_string(), f, t));
    assert_eq!(moves, expect);
    let at: Vec<_> = history.iter().map(|e| e.at).collect();
    assert_eq!(at, stamps);
    assert!(history.iter().all(|e| e.model_id == model.id));
    assert!(store.alias_history(other.id).await.unwrap().is_empty());
}

/// A version's origin is kept as it was given, read back by every lookup,
/// and absent from versions registered without one; it plays no part in
/// finding a version by its content.
async fn origins(store: &Arc<dyn RegistryStore>) {
    let model = store.create_model("from-git", &by()).await.unwrap();
    let plain = store
        .create_version(
            &new_version(model.id, "o-1", definition("g"), vec![], None),
            &by(),
        )
        .await
        .unwrap();
    assert_eq!(plain.origin, None);
    let origin = VersionOrigin::Git {
        repository: "https://example.com/org/models.git".into(),
        reference: "main".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        subdir: Some("models/fraud".into()),
    };
    let mut new = new_version(model.id, "o-2", definition("g"), files("cc"), None);
    new.origin = Some(origin.clone());
    let git = store.create_version(&new, &by()).await.unwrap();
    assert_eq!(git.origin.as_ref(), Some(&origin));
    assert_eq!(
        store.version_by_id(git.id).await.unwrap(),
        Some(git.clone())
    );
    assert_eq!(
        store.version_by_number(model.id, 2).await.unwrap(),
        Some(git.clone())
    );
    assert_eq!(
        store.version_by_hash(model.id, "o-2").await.unwrap(),
        Some(git.clone())
    );
    assert_eq!(
        store.latest_version(model.id).await.unwrap(),
        Some(git.clone())
    );
    let listed = store
        .list_versions(model.id, &Page::default())
        .await
        .unwrap();
    let origins: Vec<_> = listed.items.iter().map(|v| v.origin.clone()).collect();
    assert_eq!(origins, [None, Some(origin)]);
    assert_eq!(
        store
            .version_by_id(plain.id)
            .await
            .unwrap()
            .map(|v| v.origin),
        Some(None)
    );
}
