//! Tokens: generation, argon2id hashing, verification, expiry, revocation and the cache.

use std::time::Duration;

use switchboard_api::Role;
use switchboard_auth::{AuthError, PrincipalKind, TokenVerifier, VerifierOptions, parse_token};
use switchboard_storage::Store;

use crate::backends::backends;

fn verifier(store: &Store, ttl: Duration) -> TokenVerifier {
    TokenVerifier::new(
        store.clone(),
        VerifierOptions {
            admin_token: None,
            cache_ttl: ttl,
        },
    )
}

#[tokio::test]
async fn created_token_is_stored_only_as_an_argon2id_hash_and_verifies() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let created = v.create("ci", Role::Operator, None).await.unwrap();
        let id = parse_token(&created.token).unwrap().id.to_owned();
        assert_eq!(id, created.id);
        let stored = b.store.get_token(&id).await.unwrap().unwrap();
        assert!(stored.hash.starts_with("$argon2id$"), "{}", b.name);
        let secret = created.token.rsplit('_').next().unwrap();
        assert!(!stored.hash.contains(secret));
        let p = v.verify(&created.token).await.unwrap();
        assert_eq!(
            (p.kind, p.role, p.token_id.as_deref()),
            (PrincipalKind::Token, Role::Operator, Some(id.as_str()))
        );
        assert!(
            b.store
                .get_token(&id)
                .await
                .unwrap()
                .unwrap()
                .last_used_at
                .is_some()
        );
    }
}

#[tokio::test]
async fn a_burst_of_checks_of_one_uncached_token_runs_argon2_once() {
    let b = &backends().await[0];
    let v = verifier(&b.store, Duration::from_secs(60));
    let created = v.create("burst", Role::Viewer, None).await.unwrap();
    let checks = (0..16).map(|_| v.verify(&created.token));
    let principals = futures_util::future::join_all(checks).await;
    assert!(
        principals
            .iter()
            .all(|p| p.as_ref().unwrap().role == Role::Viewer)
    );
    assert_eq!(
        v.hashes_checked(),
        1,
        "the others waited for the first check"
    );
    // A wrong secret is never cached: each attempt is checked (and refused).
    let wrong = format!(
        "{}_{}",
        created.token.rsplit_once('_').unwrap().0,
        "0".repeat(64)
    );
    for _ in 0..2 {
        assert!(matches!(v.verify(&wrong).await, Err(AuthError::Invalid)));
    }
    assert_eq!(v.hashes_checked(), 3);
}

#[tokio::test]
async fn a_wrong_secret_for_a_real_id_is_invalid_never_a_lesser_role() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let created = v.create("ci", Role::Admin, None).await.unwrap();
        let mut forged = created.token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == '0' { '1' } else { '0' });
        assert!(
            matches!(v.verify(&forged).await, Err(AuthError::Invalid)),
            "{}",
            b.name
        );
        assert!(matches!(
            v.verify("sb_garbage").await,
            Err(AuthError::Invalid)
        ));
        assert!(matches!(v.verify("").await, Err(AuthError::Invalid)));
    }
}

#[tokio::test]
async fn an_expired_token_is_refused_even_from_the_cache() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let created = v
            .create("short", Role::Viewer, Some(Duration::from_millis(400)))
            .await
            .unwrap();
        v.verify(&created.token).await.unwrap();
        assert_eq!(v.cache().len(), 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            matches!(v.verify(&created.token).await, Err(AuthError::Expired)),
            "{}",
            b.name
        );
        let fresh = verifier(&b.store, Duration::from_secs(60));
        assert!(matches!(
            fresh.verify(&created.token).await,
            Err(AuthError::Expired)
        ));
    }
}

#[tokio::test]
async fn revocation_empties_the_cache_for_that_token_at_once() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let gone = v.create("gone", Role::Operator, None).await.unwrap();
        let kept = v.create("kept", Role::Operator, None).await.unwrap();
        v.verify(&gone.token).await.unwrap();
        v.verify(&kept.token).await.unwrap();
        assert_eq!(v.cache().len(), 2);
        assert!(v.revoke(&gone.id).await.unwrap());
        assert_eq!(v.cache().len(), 1);
        assert!(
            matches!(v.verify(&gone.token).await, Err(AuthError::Revoked)),
            "{}",
            b.name
        );
        v.verify(&kept.token).await.unwrap();
        assert!(!v.revoke("0000000000000000").await.unwrap());
    }
}

#[tokio::test]
async fn a_cached_token_verifies_without_touching_the_store() {
    let b = backends().await.remove(0);
    let v = verifier(&b.store, Duration::from_secs(60));
    let created = v.create("ci", Role::Viewer, None).await.unwrap();
    v.verify(&created.token).await.unwrap();
    // With the pool closed, only a cache hit can still answer.
    b.store.clone().close().await.unwrap();
    assert_eq!(v.verify(&created.token).await.unwrap().role, Role::Viewer);
    let other = verifier(&b.store, Duration::from_secs(60));
    assert!(matches!(
        other.verify(&created.token).await,
        Err(AuthError::Store(_))
    ));
}

#[tokio::test]
async fn the_cache_forgets_entries_after_its_ttl_and_zero_disables_it() {
    let b = backends().await.remove(0);
    let v = verifier(&b.store, Duration::from_millis(200));
    let created = v.create("ci", Role::Viewer, None).await.unwrap();
    v.verify(&created.token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.store.clone().close().await.unwrap();
    assert!(matches!(
        v.verify(&created.token).await,
        Err(AuthError::Store(_))
    ));

    let b = backends().await.remove(0);
    let off = verifier(&b.store, Duration::ZERO);
    let created = off.create("ci", Role::Viewer, None).await.unwrap();
    off.verify(&created.token).await.unwrap();
    assert!(off.cache().is_empty());
}

#[tokio::test]
async fn the_configured_admin_token_grants_admin_and_nothing_close_to_it_does() {
    let b = backends().await.remove(0);
    let admin = "a-long-configured-gateway-token";
    let v = TokenVerifier::new(
        b.store.clone(),
        VerifierOptions {
            admin_token: Some(admin.into()),
            cache_ttl: Duration::from_secs(60),
        },
    );
    let p = v.verify(admin).await.unwrap();
    assert_eq!((p.kind, p.role), (PrincipalKind::AdminToken, Role::Admin));
    for near in [
        "a-long-configured-gateway-toke",
        "a-long-configured-gateway-tokeN",
        "",
    ] {
        assert!(
            matches!(v.verify(near).await, Err(AuthError::Invalid)),
            "{near}"
        );
    }
    assert!(
        v.ensure_admin_token().await.unwrap().is_none(),
        "configured admin token suffices"
    );
}

#[tokio::test]
async fn first_start_creates_one_admin_token_and_only_once() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let created = v
            .ensure_admin_token()
            .await
            .unwrap()
            .expect("created on first start");
        assert_eq!(created.role, Role::Admin);
        assert_eq!(v.verify(&created.token).await.unwrap().role, Role::Admin);
        assert!(
            v.ensure_admin_token().await.unwrap().is_none(),
            "{}",
            b.name
        );
        v.revoke(&created.id).await.unwrap();
        assert!(
            v.ensure_admin_token().await.unwrap().is_some(),
            "a revoked admin token does not count"
        );
    }
}
