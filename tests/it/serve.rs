//! Serving: `/healthz`, `/readyz` and their answers when the store goes away.

use switchboard_tests::{TestServer, http};

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start(&[]).await;
    assert_eq!(
        http::get(server.addr, "/healthz").await,
        (200, "ok".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn readyz_is_200_while_the_store_answers_and_503_when_it_does_not() {
    let server = TestServer::start(&[]).await;
    assert_eq!(http::get(server.addr, "/readyz").await.0, 200);
    server.state.store.clone().close().await.unwrap();
    let (status, body) = http::get(server.addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let server = TestServer::start(&[]).await;
    assert_eq!(http::get(server.addr, "/nope").await.0, 404);
}

#[tokio::test]
async fn serves_on_postgres_when_configured() {
    let Some(pg) = switchboard_tests::pg_database().await else {
        return;
    };
    let server = TestServer::start(&[("SWITCHBOARD__STORAGE__URL", &pg.url)]).await;
    assert_eq!(server.state.store.backend_name(), "postgres");
    assert!(server.admin_token.starts_with("sb_"));
    assert_eq!(http::get(server.addr, "/readyz").await.0, 200);
    server.stop().await;
}
