use super::*;
use crate::store::sqlite::SqliteStore;

/// Where a test's accounts live: a SQLite file, or a fresh PostgreSQL database (dropped at the
/// end) when `TEST_DATABASE_URL` names a PostgreSQL server.
enum Place {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { server: String, name: String },
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Place::Postgres { server, name } = self
            && let Ok(mut admin) = postgres::Client::connect(server, postgres::NoTls)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn store() -> (Place, Arc<dyn Store>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(server) if server.starts_with("postgres") => {
            let name = format!("vi_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            let (base, _) = server.rsplit_once('/').unwrap();
            let store = crate::store::open(&format!("{base}/{name}")).unwrap();
            (Place::Postgres { server, name }, store)
        }
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("accounts.db")).unwrap();
            (Place::Sqlite { _dir: dir }, Arc::new(store))
        }
    }
}

const PASSWORD: &str = "correct horse battery";

#[test]
fn passwords_are_argon2id_and_verify_only_themselves() {
    let hash = password::hash(PASSWORD).unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(password::verify(PASSWORD, Some(&hash)));
    assert!(!password::verify("correct horse battery!", Some(&hash)));
    assert!(!password::verify(PASSWORD, None), "the decoy never matches");
    assert!(!password::verify("no such account", None));
    assert!(password::hash("short").is_err());
}

#[test]
fn names_are_checked_and_unique_whatever_their_case() {
    let (_place, store) = store();
    add_user(&*store, "alice", Role::Admin, PASSWORD).unwrap();
    for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
        assert!(matches!(
            add_user(&*store, bad, Role::Viewer, PASSWORD),
            Err(AccountError::Invalid(_))
        ));
    }
    assert!(matches!(
        add_user(&*store, "ALICE", Role::Viewer, PASSWORD),
        Err(AccountError::Conflict(_))
    ));
}

#[test]
fn tokens_identify_their_user_until_revoked_expired_or_disabled() {
    let (_place, store) = store();
    let bob = add_user(&*store, "bob", Role::Analyst, PASSWORD).unwrap();
    let auth = Authenticator::new(Arc::clone(&store), Duration::from_secs(3600));
    let (token, secret) = create_token(&*store, "bob", "ci", None).unwrap();
    assert!(
        secret.starts_with(&format!("vit_{}_", token.id)),
        "{secret}"
    );
    let identity = auth.identify(&Credential::Token(secret.clone())).unwrap();
    assert_eq!(
        (identity.name.as_str(), identity.role),
        ("bob", Role::Analyst)
    );
    assert!(
        store.tokens().unwrap()[0].last_used_at.is_some(),
        "use is stamped"
    );

    let mut forged = secret.clone();
    forged.pop();
    forged.push(if secret.ends_with('A') { 'B' } else { 'A' });
    for bad in [
        forged,
        "vit_1_short".into(),
        "nonsense".into(),
        format!("vit_99_{}", &secret[secret.len() - 43..]),
    ] {
        assert_eq!(
            auth.identify(&Credential::Token(bad)),
            Err(Refused::BadToken)
        );
    }

    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    store.update_user(bob.id, &disable).unwrap();
    assert_eq!(
        auth.identify(&Credential::Token(secret.clone())),
        Err(Refused::BadToken)
    );
    let enable = UserChange {
        disabled: Some(false),
        ..UserChange::default()
    };
    store.update_user(bob.id, &enable).unwrap();
    assert!(auth.identify(&Credential::Token(secret.clone())).is_ok());

    assert!(store.revoke_token(token.id).unwrap());
    assert_eq!(
        auth.identify(&Credential::Token(secret)),
        Err(Refused::BadToken)
    );

    let (_, short_lived) =
        create_token(&*store, "bob", "brief", Some(Duration::from_millis(1))).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(
        auth.identify(&Credential::Token(short_lived)),
        Err(Refused::ExpiredToken)
    );
    assert!(matches!(
        create_token(&*store, "nobody", "x", None),
        Err(AccountError::UnknownUser(_))
    ));
}

#[test]
fn sessions_end_when_signed_out_idle_or_when_the_password_changes() {
    let (_place, store) = store();
    let carol = add_user(&*store, "carol", Role::Viewer, PASSWORD).unwrap();
    let auth = Authenticator::new(Arc::clone(&store), Duration::from_secs(3600));
    let first = auth.start_session(carol.id).unwrap();
    let second = auth.start_session(carol.id).unwrap();
    assert_eq!(
        auth.identify(&Credential::Session(first.clone()))
            .unwrap()
            .name,
        "carol"
    );
    auth.end_session(&first).unwrap();
    assert_eq!(
        auth.identify(&Credential::Session(first)),
        Err(Refused::BadSession)
    );

    let third = auth.start_session(carol.id).unwrap();
    set_password(&*store, carol.id, "another long password", Some(&third)).unwrap();
    assert_eq!(
        auth.identify(&Credential::Session(second)),
        Err(Refused::BadSession)
    );
    assert!(
        auth.identify(&Credential::Session(third.clone())).is_ok(),
        "the changing session stays"
    );

    let impatient = Authenticator::new(Arc::clone(&store), Duration::ZERO);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(
        impatient.identify(&Credential::Session(third)),
        Err(Refused::BadSession)
    );
    assert_eq!(impatient.purge_idle_sessions().unwrap(), 1);
}

#[test]
fn ids_are_never_reused_and_an_enabled_admin_always_remains() {
    let (_place, store) = store();
    let first = add_user(&*store, "first", Role::Admin, PASSWORD).unwrap();
    let gone = add_user(&*store, "gone", Role::Analyst, PASSWORD).unwrap();
    assert!(store.remove_user(gone.id).unwrap());
    let next = add_user(&*store, "next", Role::Analyst, PASSWORD).unwrap();
    assert!(
        next.id > gone.id,
        "a new account does not take a removed one's id"
    );

    let demote = UserChange {
        role: Some(Role::Viewer),
        ..UserChange::default()
    };
    assert!(matches!(
        store.update_user(first.id, &demote),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.remove_user(first.id),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.user_by_name("first").unwrap().unwrap().role,
        Role::Admin
    );
    let promote = UserChange {
        role: Some(Role::Admin),
        ..UserChange::default()
    };
    store.update_user(next.id, &promote).unwrap();
    assert!(store.update_user(first.id, &demote).unwrap().is_some());
}

#[test]
fn lookups_answer_inline_on_a_runtimes_async_threads() {
    let (_place, store) = store();
    add_user(&*store, "alice", Role::Admin, PASSWORD).unwrap();
    let runtimes = [
        tokio::runtime::Builder::new_multi_thread().build().unwrap(),
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
    ];
    for runtime in runtimes {
        runtime.block_on(async {
            assert_eq!(store.count_users().unwrap(), 1);
            let found = store.credentials("ALICE").unwrap().unwrap();
            assert_eq!(found.identity.name, "alice");
        });
    }
}
