//! The store: round trips of every table, on SQLite and PostgreSQL.

use switchboard_api::{ApprovalStatus, Role, RunStatus};
use switchboard_storage::{
    AuditQuery, NewApproval, NewAuditEntry, NewEvent, NewMessage, NewRun, NewSession, NewToken,
    RunFinish, SessionQuery, Store,
};

use crate::backends::backends;

fn session(id: &str, at: i64) -> NewSession {
    NewSession {
        id: id.to_owned(),
        agent_id: "main".to_owned(),
        user_id: "alice".to_owned(),
        title: format!("title {id}"),
        created_at: at,
        key: None,
    }
}

fn event(name: &str) -> NewEvent {
    NewEvent {
        run_id: Some("r1".to_owned()),
        event: name.to_owned(),
        payload: format!("{{\"name\":\"{name}\"}}"),
        created_at: 1,
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_none_stay_pending() {
    for b in backends().await {
        b.store.migrate().await.unwrap();
        assert!(
            b.store.pending_migrations().await.unwrap().is_empty(),
            "{}",
            b.name
        );
        b.store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn tokens_round_trip_and_revoke_keeps_the_first_time() {
    for b in backends().await {
        let s = &b.store;
        s.insert_token(NewToken {
            id: "t1".into(),
            name: "ci".into(),
            role: Role::Operator,
            hash: "$argon2id$x".into(),
            created_at: 10,
            expires_at: Some(99),
            scope: None,
        })
        .await
        .unwrap();
        let t = s.get_token("t1").await.unwrap().unwrap();
        assert_eq!(
            (t.name.as_str(), t.role, t.expires_at),
            ("ci", Role::Operator, Some(99))
        );
        assert!(t.is_active(50) && !t.is_active(100));
        assert!(s.get_token("nope").await.unwrap().is_none());
        assert!(s.revoke_token("t1", 20).await.unwrap());
        assert!(s.revoke_token("t1", 30).await.unwrap());
        assert_eq!(
            s.get_token("t1").await.unwrap().unwrap().revoked_at,
            Some(20)
        );
        assert!(!s.revoke_token("nope", 30).await.unwrap());
        s.touch_token("t1", 40).await.unwrap();
        let listed = s.list_tokens().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_used_at, Some(40), "{}", b.name);
        assert!(!s.has_active_admin_token(0).await.unwrap());
    }
}

#[tokio::test]
async fn sessions_list_newest_first_with_filters_and_cursor() {
    for b in backends().await {
        let s = &b.store;
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            s.create_session(session(id, 100 + i as i64)).await.unwrap();
        }
        let mut other = session("d", 50);
        other.agent_id = "gpt".into();
        s.create_session(other).await.unwrap();

        let page = |after| SessionQuery {
            limit: 2,
            after,
            ..Default::default()
        };
        let first = s.list_sessions(&page(None)).await.unwrap();
        assert_eq!(
            first.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
            ["c", "b"]
        );
        let last = first.last().map(|x| (x.updated_at, x.id.clone()));
        let second = s.list_sessions(&page(last)).await.unwrap();
        assert_eq!(
            second.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
            ["a", "d"]
        );
        let gpt = SessionQuery {
            agent_id: Some("gpt".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(s.list_sessions(&gpt).await.unwrap().len(), 1);
        // A scoped token's listing: sessions of its agents, and its sessions.
        let scoped = SessionQuery {
            limit: 10,
            scope: Some(switchboard_api::Scope {
                agents: Some(vec!["gpt".into()]),
                sessions: Some(vec!["a".into()]),
            }),
            ..Default::default()
        };
        let mut ids: Vec<String> = s
            .list_sessions(&scoped)
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["a", "d"], "{}", b.name);
        assert_eq!(s.count_sessions().await.unwrap(), 4, "{}", b.name);
    }
}

#[tokio::test]
async fn messages_page_backwards_in_order_and_count_on_the_session() {
    for b in backends().await {
        let s = &b.store;
        s.create_session(session("s", 1)).await.unwrap();
        for i in 0..5 {
            s.append_message(NewMessage {
                session_id: "s".into(),
                run_id: None,
                role: if i % 2 == 0 { "user" } else { "assistant" }.into(),
                content: format!("m{i}"),
                created_at: 10 + i,
                usage: (i % 2 == 1).then_some((3, 4, Some(0.5))),
            })
            .await
            .unwrap();
        }
        let (newest, more) = s.list_messages("s", 2, None).await.unwrap();
        assert_eq!(
            newest
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>(),
            ["m3", "m4"]
        );
        assert!(more);
        let (older, more) = s.list_messages("s", 10, Some(newest[0].id)).await.unwrap();
        assert_eq!(older.len(), 3);
        assert!(!more);
        assert_eq!(older[1].output_tokens, Some(4));
        let sess = s.get_session("s").await.unwrap().unwrap();
        assert_eq!((sess.message_count, sess.updated_at), (5, 14), "{}", b.name);
    }
}

#[tokio::test]
async fn event_sequence_is_gap_free_under_concurrent_appends() {
    for b in backends().await {
        let s = &b.store;
        s.create_session(session("s", 1)).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store: Store = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for _ in 0..5 {
                    seqs.extend(
                        store
                            .append_events("s", &[event("chat"), event("usage")])
                            .await
                            .unwrap(),
                    );
                }
                seqs
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            let seqs = t.await.unwrap();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]));
            all.extend(seqs);
        }
        all.sort();
        assert_eq!(all, (1..=80).collect::<Vec<i64>>(), "{}", b.name);
        let after = s.events_after("s", 75, 100).await.unwrap();
        assert_eq!(
            after.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [76, 77, 78, 79, 80]
        );
        assert_eq!(s.get_session("s").await.unwrap().unwrap().last_seq, 80);
        assert!(s.append_events("missing", &[event("chat")]).await.is_err());
    }
}

#[tokio::test]
async fn runs_finish_and_unfinished_ones_fail_at_the_next_start() {
    for b in backends().await {
        let s = &b.store;
        s.create_session(session("s", 1)).await.unwrap();
        for id in ["r1", "r2", "r3"] {
            s.insert_run(NewRun {
                id: id.into(),
                session_id: "s".into(),
                agent_id: "main".into(),
                principal: "token:x".into(),
                idempotency_key: Some(format!("k-{id}")),
                created_at: 100,
                message: format!("q-{id}"),
            })
            .await
            .unwrap();
        }
        s.start_run("r1", 101).await.unwrap();
        s.start_run("r2", 101).await.unwrap();
        s.finish_run(
            "r1",
            RunFinish {
                status: RunStatus::Completed,
                stop_reason: Some("end_turn".into()),
                error: None,
                input_tokens: 2,
                output_tokens: 3,
                cost: 0.25,
                finished_at: 102,
            },
        )
        .await
        .unwrap();
        let found = s
            .find_run_by_idempotency_key("token:x", "k-r1", 50)
            .await
            .unwrap();
        assert_eq!(found.map(|r| r.id), Some("r1".to_owned()));
        assert!(
            s.find_run_by_idempotency_key("token:y", "k-r1", 50)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.find_run_by_idempotency_key("token:x", "k-r1", 101)
                .await
                .unwrap()
                .is_none()
        );

        let failed = s.fail_unfinished_runs("interrupted", 200).await.unwrap();
        let mut ids: Vec<_> = failed.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        assert_eq!(ids, ["r2", "r3"]);
        let r1 = s.get_run("r1").await.unwrap().unwrap();
        assert_eq!(
            (r1.run_status(), r1.output_tokens),
            (RunStatus::Completed, 3)
        );
        let r2 = s.get_run("r2").await.unwrap().unwrap();
        assert_eq!(r2.run_status(), RunStatus::Failed);
        assert_eq!(r2.error.as_deref(), Some("interrupted"), "{}", b.name);
        // A run that never started brings its accepted message into the transcript.
        let (messages, _) = s.list_messages("s", 10, None).await.unwrap();
        let texts: Vec<_> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["q-r3"], "{}", b.name);
    }
}

#[tokio::test]
async fn approvals_resolve_once_and_leave_the_pending_list() {
    for b in backends().await {
        let s = &b.store;
        s.create_session(session("s", 1)).await.unwrap();
        s.insert_approval(NewApproval {
            id: "a1".into(),
            session_id: "s".into(),
            run_id: "r1".into(),
            tool_call_id: "c1".into(),
            tool: "exec".into(),
            input: "{\"cmd\":\"ls\"}".into(),
            risk: "high".into(),
            created_at: 5,
        })
        .await
        .unwrap();
        assert_eq!(s.pending_approvals().await.unwrap().len(), 1);
        assert!(
            s.resolve_approval(
                "a1",
                ApprovalStatus::Denied,
                Some("no".into()),
                Some("op".into()),
                6
            )
            .await
            .unwrap()
        );
        assert!(
            !s.resolve_approval("a1", ApprovalStatus::Approved, None, None, 7)
                .await
                .unwrap()
        );
        let a = s.get_approval("a1").await.unwrap().unwrap();
        assert_eq!(
            (a.status.as_str(), a.reason.as_deref()),
            ("denied", Some("no"))
        );
        assert!(
            s.pending_approvals().await.unwrap().is_empty(),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn audit_pages_newest_first() {
    for b in backends().await {
        let s = &b.store;
        for i in 0..5 {
            s.append_audit(NewAuditEntry {
                at: i,
                actor: "admin".into(),
                action: "token.create".into(),
                target: Some(format!("t{i}")),
                outcome: "ok".into(),
                detail: None,
                remote_addr: Some("127.0.0.1:1".into()),
            })
            .await
            .unwrap();
        }
        let page = s
            .list_audit(AuditQuery {
                limit: 3,
                before: None,
            })
            .await
            .unwrap();
        assert_eq!(page.iter().map(|e| e.at).collect::<Vec<_>>(), [4, 3, 2]);
        let rest = s
            .list_audit(AuditQuery {
                limit: 3,
                before: Some(page[2].id),
            })
            .await
            .unwrap();
        assert_eq!(
            rest.iter().map(|e| e.at).collect::<Vec<_>>(),
            [1, 0],
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn deleting_a_session_removes_everything_in_it() {
    for b in backends().await {
        let s = &b.store;
        s.create_session(session("s", 1)).await.unwrap();
        s.create_session(session("keep", 1)).await.unwrap();
        for id in ["s", "keep"] {
            s.append_events(id, &[event("chat")]).await.unwrap();
            s.append_message(NewMessage {
                session_id: id.into(),
                run_id: None,
                role: "user".into(),
                content: "hi".into(),
                created_at: 2,
                usage: None,
            })
            .await
            .unwrap();
        }
        assert!(s.delete_session("s").await.unwrap());
        assert!(!s.delete_session("s").await.unwrap());
        assert!(s.get_session("s").await.unwrap().is_none());
        assert!(s.events_after("s", 0, 10).await.unwrap().is_empty());
        assert!(s.list_messages("s", 10, None).await.unwrap().0.is_empty());
        assert_eq!(
            s.events_after("keep", 0, 10).await.unwrap().len(),
            1,
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn a_session_key_is_held_by_one_session_and_found_by_key() {
    for b in backends().await {
        let s = &b.store;
        let keyed = |id: &str| NewSession {
            key: Some("agent:main:side".to_owned()),
            ..session(id, 1)
        };
        s.create_session(keyed("a")).await.unwrap();
        let taken = s.create_session(keyed("b")).await.unwrap_err();
        assert!(
            matches!(taken, switchboard_storage::StoreError::DuplicateSessionKey),
            "{}: {taken}",
            b.name
        );
        let again = s.create_session(session("a", 2)).await.unwrap_err();
        assert!(
            matches!(again, switchboard_storage::StoreError::Db(_)),
            "{}: a taken id is not a taken key: {again}",
            b.name
        );
        // Sessions without a key are many.
        s.create_session(session("c", 3)).await.unwrap();
        s.create_session(session("d", 4)).await.unwrap();
        let found = s.get_session_by_key("agent:main:side").await.unwrap();
        assert_eq!(found.map(|f| f.id), Some("a".to_owned()), "{}", b.name);
        assert!(
            s.get_session_by_key("agent:main:x")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(s.get_session("c").await.unwrap().unwrap().key, None);

        s.append_message(NewMessage {
            session_id: "a".to_owned(),
            run_id: None,
            role: "user".to_owned(),
            content: "first".to_owned(),
            created_at: 5,
            usage: None,
        })
        .await
        .unwrap();
        s.append_message(NewMessage {
            session_id: "a".to_owned(),
            run_id: None,
            role: "assistant".to_owned(),
            content: "last".to_owned(),
            created_at: 6,
            usage: None,
        })
        .await
        .unwrap();
        let ids = ["a", "c"].map(str::to_owned);
        let last = s.last_messages(&ids).await.unwrap();
        assert_eq!(
            last.iter()
                .map(|m| (m.session_id.as_str(), m.content.as_str()))
                .collect::<Vec<_>>(),
            [("a", "last")],
            "{}",
            b.name
        );
    }
}
