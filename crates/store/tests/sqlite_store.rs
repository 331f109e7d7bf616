#[macro_use]
mod common;

use callhook_store::*;
use chrono::{DateTime, Duration, Utc};

fn rec(id: &str, start: DateTime<Utc>, parts: &[&str]) -> CallRecordWrite {
    CallRecordWrite {
        id: id.into(),
        start,
        participant_ids: parts.iter().map(|s| s.to_string()).collect(),
        body: format!("{{\"id\":\"{id}\"}}"),
        sessions: format!("[\"{id}-session\"]"),
        participants: "[]".into(),
    }
}

backend_tests! {
async fn replacing_a_record_bumps_version_and_keeps_its_list_position() {
    let (_d, s) = store().await;
    let now = Utc::now();
    let w = s
        .put_call_records("t1", &[rec("a", now, &["u1"]), rec("b", now, &["u2"])], now)
        .await
        .unwrap();
    assert_eq!((w[0].version, w[0].created), (1, true));
    let w2 = s
        .put_call_records("t1", &[rec("a", now, &["u3"])], now)
        .await
        .unwrap();
    assert_eq!((w2[0].version, w2[0].created), (2, false));

    let q = CallRecordQuery {
        tenant_id: "t1".into(),
        limit: 10,
        ..Default::default()
    };
    let ids: Vec<_> = s
        .list_call_records(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);

    // The participant index follows the latest version only.
    let by_u1 = CallRecordQuery {
        participant_ids: vec!["u1".into()],
        ..q.clone()
    };
    assert!(s.list_call_records(&by_u1).await.unwrap().is_empty());
    let by_u3 = CallRecordQuery {
        participant_ids: vec!["u3".into()],
        ..q.clone()
    };
    assert_eq!(s.list_call_records(&by_u3).await.unwrap().len(), 1);
}

async fn the_same_id_twice_in_one_batch_is_two_versions() {
    let (_d, s) = store().await;
    let now = Utc::now();
    let batch = [
        rec("a", now, &["u1"]),
        rec("b", now, &[]),
        rec("a", now, &["u2"]),
    ];
    let w = s.put_call_records("t", &batch, now).await.unwrap();
    let got: Vec<_> = w.iter().map(|x| (x.id.as_str(), x.version)).collect();
    assert_eq!(got, [("a", 1), ("b", 1), ("a", 2)]);
    let q = CallRecordQuery {
        tenant_id: "t".into(),
        participant_ids: vec!["u2".into()],
        limit: 10,
        ..Default::default()
    };
    assert_eq!(s.list_call_records(&q).await.unwrap().len(), 1);
    let q1 = CallRecordQuery {
        participant_ids: vec!["u1".into()],
        ..q
    };
    assert!(s.list_call_records(&q1).await.unwrap().is_empty());
}

async fn tenants_never_see_each_others_records() {
    let (_d, s) = store().await;
    let now = Utc::now();
    s.put_call_records("t1", &[rec("a", now, &[])], now)
        .await
        .unwrap();
    assert!(s.call_record("t2", "a").await.unwrap().is_none());
    let q = CallRecordQuery {
        tenant_id: "t2".into(),
        limit: 10,
        ..Default::default()
    };
    assert!(s.list_call_records(&q).await.unwrap().is_empty());
}

async fn start_time_bounds_and_cursor_filter_the_list() {
    let (_d, s) = store().await;
    let t0 = Utc::now() - Duration::hours(10);
    let recs: Vec<_> = (0..5)
        .map(|i| rec(&format!("r{i}"), t0 + Duration::hours(i), &[]))
        .collect();
    s.put_call_records("t", &recs, Utc::now()).await.unwrap();
    let q = CallRecordQuery {
        tenant_id: "t".into(),
        start: vec![
            (Cmp::Ge, t0 + Duration::hours(1)),
            (Cmp::Lt, t0 + Duration::hours(4)),
        ],
        limit: 2,
        ..Default::default()
    };
    let page1 = s.list_call_records(&q).await.unwrap();
    assert_eq!(
        page1.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r1", "r2"]
    );
    let q2 = CallRecordQuery {
        after_seq: Some(page1[1].seq),
        ..q
    };
    let page2 = s.list_call_records(&q2).await.unwrap();
    assert_eq!(
        page2.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r3"]
    );
}

async fn purge_removes_only_records_started_before_the_cutoff() {
    let (_d, s) = store().await;
    let now = Utc::now();
    s.put_call_records(
        "t",
        &[
            rec("old", now - Duration::days(31), &["u"]),
            rec("new", now, &["u"]),
        ],
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        s.purge_call_records(now - Duration::days(30))
            .await
            .unwrap(),
        1
    );
    assert!(s.call_record("t", "old").await.unwrap().is_none());
    assert!(s.call_record("t", "new").await.unwrap().is_some());
}

async fn report_ranges_honour_inclusive_and_exclusive_upper_bounds() {
    let (_d, s) = store().await;
    let t0 = Utc::now();
    let rows: Vec<_> = (0..3)
        .map(|i| ReportRowWrite {
            id: format!("x{i}"),
            time: t0 + Duration::minutes(i),
            body: format!("{i}"),
        })
        .collect();
    s.put_report_rows("t", ReportKind::PstnCalls, &rows)
        .await
        .unwrap();
    let mut q = ReportQuery {
        tenant_id: "t".into(),
        report: ReportKind::PstnCalls,
        from: t0,
        to: t0 + Duration::minutes(2),
        to_inclusive: true,
        offset: 0,
        limit: 10,
    };
    assert_eq!(s.list_report_rows(&q).await.unwrap(), ["0", "1", "2"]);
    q.to_inclusive = false;
    assert_eq!(s.list_report_rows(&q).await.unwrap(), ["0", "1"]);
    q.offset = 1;
    assert_eq!(s.list_report_rows(&q).await.unwrap(), ["1"]);
    q.report = ReportKind::SmsLog;
    assert!(s.list_report_rows(&q).await.unwrap().is_empty());
}

async fn settings_keep_the_first_value_written() {
    let (_d, s) = store().await;
    assert_eq!(s.setting_or_insert("k", b"one").await.unwrap(), b"one");
    assert_eq!(s.setting_or_insert("k", b"two").await.unwrap(), b"one");
}

async fn bodies_come_back_byte_for_byte() {
    let (_d, s) = store().await;
    let now = Utc::now();
    // Key order, spacing, escapes and number spellings as the API wrote them.
    let body = "{\"z\":1,  \"a\":{\"y\":[1.50,2e3]},\"id\":\"b\",\"u\":\"\\u00e9\\n\"}";
    let mut r = rec("b", now, &[]);
    r.body = body.into();
    r.sessions = "[ {\"b\":2,\"a\":1} ]".into();
    s.put_call_records("t", &[r], now).await.unwrap();
    let got = s.call_record("t", "b").await.unwrap().unwrap();
    assert_eq!(got.body, body);
    assert_eq!(got.sessions.as_deref(), Some("[ {\"b\":2,\"a\":1} ]"));
    s.put_users("t", &[UserWrite { id: "u".into(), body: body.into() }])
        .await
        .unwrap();
    assert_eq!(s.user("t", "u").await.unwrap().as_deref(), Some(body));
}

async fn keys_with_nul_find_nothing() {
    let (_d, s) = store().await;
    let now = Utc::now();
    s.put_call_records("t", &[rec("a", now, &["u1"])], now).await.unwrap();
    assert!(s.call_record("t", "a\0").await.unwrap().is_none());
    assert!(s.tenant("t\0").await.unwrap().is_none());
    assert!(s.app("c\0").await.unwrap().is_none());
    assert!(s.user("t", "u\0").await.unwrap().is_none());
    assert!(s.subscription("t", "s\0").await.unwrap().is_none());
    assert!(s.subscription_by_id("s\0").await.unwrap().is_none());
    assert!(!s.delete_subscription("t", "s\0").await.unwrap());
    let q = CallRecordQuery {
        tenant_id: "t".into(),
        participant_ids: vec!["u1\0".into()],
        limit: 10,
        ..Default::default()
    };
    assert!(s.list_call_records(&q).await.unwrap().is_empty());
    assert!(s.online_meeting("t", "m\0").await.unwrap().is_none());
    assert!(s.online_meetings_by_join_url("t", "https://x/\0").await.unwrap().is_empty());
    assert!(s.sign_in_user("t", "a\0@b").await.unwrap().is_none());
    assert!(s.app_roles("t", "c\0").await.unwrap().is_none());
    assert!(!s.rsc_granted("t", "c", "m\0", "p").await.unwrap());
}
}
