//! MeetingStore on SQLite: meetings, ad hoc calls, artifact publication and paging, call
//! events; every read scoped to its tenant.

use std::sync::Arc;

#[macro_use]
mod common;

use callhook_store::*;
use chrono::{DateTime, Duration, TimeZone, Utc};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn meeting(id: &str, organizer: &str, url: &str) -> OnlineMeetingWrite {
    OnlineMeetingWrite {
        id: id.into(),
        organizer_id: organizer.into(),
        join_web_url: Some(url.into()),
        user_ids: vec![organizer.into(), "attendee".into()],
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

fn key(kind: ArtifactKind, parent: ArtifactParent, parent_id: &str, id: &str) -> ArtifactKey {
    ArtifactKey {
        kind,
        parent,
        parent_id: parent_id.into(),
        id: id.into(),
    }
}

fn artifact(k: &ArtifactKey, organizer: &str, created: DateTime<Utc>) -> ArtifactWrite {
    ArtifactWrite {
        key: k.clone(),
        organizer_id: organizer.into(),
        created,
        received: created,
        content_correlation_id: Some(format!("corr-{}", k.id)),
        body: format!("{{\"id\":\"{}\"}}", k.id),
    }
}

fn event(
    id: &str,
    kind: &str,
    at: DateTime<Utc>,
    user: Option<&str>,
    url: Option<&str>,
) -> CallEventWrite {
    CallEventWrite {
        id: id.into(),
        event_type: kind.into(),
        event_time: at,
        user_id: user.map(Into::into),
        join_web_url: url.map(Into::into),
        call_id: Some("call-1".into()),
        policy_name: None,
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

fn emergency_sub(id: &str, app: &str, policy: &str) -> SubscriptionRow {
    SubscriptionRow {
        id: id.into(),
        tenant_id: "t1".into(),
        app_id: app.into(),
        resource_kind: matching::kind::EMERGENCY_CALL_EVENTS.into(),
        resource: format!("communications/calls/getEmergencyEventsByPolicy(policyName='{policy}')"),
        change_type: "updated".into(),
        notify_created: false,
        notify_updated: true,
        participant_filter: Vec::new(),
        notification_url: "http://127.0.0.1:1/hook".into(),
        lifecycle_url: None,
        client_state: None,
        expiration: Utc::now() + Duration::hours(1),
        authorized_until: Utc::now() + Duration::hours(1),
        scope: Some(policy.into()),
        created: Utc::now(),
        encryption: None,
        notification_url_app_id: None,
        body: "{}".into(),
    }
}

backend_tests! {
async fn meetings_are_replaced_whole_and_found_by_join_url_within_their_tenant() {
    let (_d, s) = store().await;
    let w = s
        .put_online_meeting("t1", &meeting("m1", "o1", "https://join/1"))
        .await
        .unwrap();
    assert!(w.created);
    let mut again = meeting("m1", "o2", "https://join/1");
    again.body = "{\"id\":\"m1\",\"subject\":\"x\"}".into();
    assert!(!s.put_online_meeting("t1", &again).await.unwrap().created);
    let got = s.online_meeting("t1", "m1").await.unwrap().unwrap();
    assert_eq!(
        (got.organizer_id.as_str(), got.body.as_str()),
        ("o2", again.body.as_str())
    );
    assert_eq!(got.user_ids, ["o2", "attendee"]);
    assert_eq!(
        s.online_meetings_by_join_url("t1", "https://join/1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s.online_meeting("t2", "m1").await.unwrap().is_none());
    assert!(s
        .online_meetings_by_join_url("t2", "https://join/1")
        .await
        .unwrap()
        .is_empty());

    let c = AdhocCallWrite {
        id: "c1".into(),
        organizer_id: "u1".into(),
        body: "{}".into(),
    };
    assert!(s.put_adhoc_call("t1", &c).await.unwrap().created);
    assert!(!s.put_adhoc_call("t1", &c).await.unwrap().created);
    assert_eq!(
        s.adhoc_call("t1", "c1")
            .await
            .unwrap()
            .unwrap()
            .organizer_id,
        "u1"
    );
    assert!(s.adhoc_call("t2", "c1").await.unwrap().is_none());
}

async fn an_artifact_is_published_once_when_its_content_arrives() {
    let (_d, s) = store().await;
    let k = key(
        ArtifactKind::Transcript,
        ArtifactParent::OnlineMeeting,
        "m1",
        "tr1",
    );
    // Content before metadata has nothing to attach to.
    assert!(s
        .put_artifact_stream(
            "t1",
            &k,
            ArtifactStream::Content,
            b"WEBVTT\n",
            chrono::Utc::now()
        )
        .await
        .unwrap()
        .is_none());

    let w = s
        .put_artifact("t1", &artifact(&k, "o1", t0()))
        .await
        .unwrap();
    assert!(w.inserted && !w.published && w.seq.is_none());
    let q = ArtifactQuery::new(
        "t1",
        ArtifactKind::Transcript,
        ArtifactParent::OnlineMeeting,
        10,
    );
    assert!(
        s.list_artifacts(&q).await.unwrap().is_empty(),
        "unpublished"
    );

    let meta = s
        .put_artifact_stream(
            "t1",
            &k,
            ArtifactStream::MetadataContent,
            b"WEBVTT\n\nmeta",
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!meta.published, "metadataContent alone does not publish");

    let w = s
        .put_artifact_stream(
            "t1",
            &k,
            ArtifactStream::Content,
            b"WEBVTT\n\nhello",
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(w.published);
    assert_eq!(w.organizer_id, "o1");
    let seq = w.seq.unwrap();
    // Replacing the content or the metadata neither republishes nor moves it.
    let again = s
        .put_artifact_stream(
            "t1",
            &k,
            ArtifactStream::Content,
            b"WEBVTT\n\nbye",
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.published, again.seq), (false, Some(seq)));
    let re = s
        .put_artifact("t1", &artifact(&k, "o1", t0()))
        .await
        .unwrap();
    assert_eq!(
        (re.inserted, re.published, re.seq),
        (false, false, Some(seq))
    );

    let got = s.artifact("t1", &k).await.unwrap().unwrap();
    assert_eq!(
        (got.content_len, got.metadata_content_len),
        (Some(11), Some(12))
    );
    assert_eq!(
        s.artifact_stream("t1", &k, ArtifactStream::Content)
            .await
            .unwrap()
            .unwrap(),
        b"WEBVTT\n\nbye"
    );
    assert_eq!(s.list_artifacts(&q).await.unwrap().len(), 1);
    // Another tenant sees nothing.
    assert!(s.artifact("t2", &k).await.unwrap().is_none());
    assert!(s
        .artifact_stream("t2", &k, ArtifactStream::Content)
        .await
        .unwrap()
        .is_none());
    let q2 = ArtifactQuery::new(
        "t2",
        ArtifactKind::Transcript,
        ArtifactParent::OnlineMeeting,
        10,
    );
    assert!(s.list_artifacts(&q2).await.unwrap().is_empty());
}

async fn recordings_store_bytes_and_have_no_metadata_content() {
    let (_d, s) = store().await;
    let k = key(
        ArtifactKind::Recording,
        ArtifactParent::AdhocCall,
        "c1",
        "rec1",
    );
    s.put_artifact("t1", &artifact(&k, "u1", t0()))
        .await
        .unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let w = s
        .put_artifact_stream(
            "t1",
            &k,
            ArtifactStream::Content,
            &bytes,
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(w.published);
    assert_eq!(
        s.artifact_stream("t1", &k, ArtifactStream::Content)
            .await
            .unwrap()
            .unwrap(),
        bytes
    );
    assert!(s
        .put_artifact_stream(
            "t1",
            &k,
            ArtifactStream::MetadataContent,
            b"x",
            chrono::Utc::now()
        )
        .await
        .is_err());
    // A transcript with the same ids is another artifact.
    let tk = key(
        ArtifactKind::Transcript,
        ArtifactParent::AdhocCall,
        "c1",
        "rec1",
    );
    assert!(s.artifact("t1", &tk).await.unwrap().is_none());
}

async fn list_filters_by_organizer_time_parent_and_correlation_and_pages_by_publication() {
    let (_d, s) = store().await;
    let mut keys = Vec::new();
    for i in 0..6 {
        let organizer = if i % 2 == 0 { "o1" } else { "o2" };
        let k = key(
            ArtifactKind::Transcript,
            ArtifactParent::OnlineMeeting,
            &format!("m{}", i % 3),
            &format!("tr{i}"),
        );
        s.put_artifact("t1", &artifact(&k, organizer, t0() + Duration::hours(i)))
            .await
            .unwrap();
        keys.push(k);
    }
    // Published in reverse order: list order follows publication, not creation.
    for k in keys.iter().rev() {
        s.put_artifact_stream(
            "t1",
            k,
            ArtifactStream::Content,
            b"WEBVTT\n",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    }
    let ids = |v: Vec<StoredArtifact>| v.into_iter().map(|a| a.key.id).collect::<Vec<_>>();
    let base = ArtifactQuery::new(
        "t1",
        ArtifactKind::Transcript,
        ArtifactParent::OnlineMeeting,
        10,
    );
    assert_eq!(
        ids(s.list_artifacts(&base).await.unwrap()),
        ["tr5", "tr4", "tr3", "tr2", "tr1", "tr0"]
    );
    let by_o1 = ArtifactQuery {
        organizer_id: Some("o1".into()),
        ..base.clone()
    };
    assert_eq!(
        ids(s.list_artifacts(&by_o1).await.unwrap()),
        ["tr4", "tr2", "tr0"]
    );
    let window = ArtifactQuery {
        created_from: Some(t0() + Duration::hours(1)),
        created_to: Some(t0() + Duration::hours(3)),
        ..base.clone()
    };
    assert_eq!(
        ids(s.list_artifacts(&window).await.unwrap()),
        ["tr3", "tr2", "tr1"]
    );
    let of_m0 = ArtifactQuery {
        parent_id: Some("m0".into()),
        ..base.clone()
    };
    assert_eq!(ids(s.list_artifacts(&of_m0).await.unwrap()), ["tr3", "tr0"]);
    let corr = ArtifactQuery {
        content_correlation_id: Some("corr-tr2".into()),
        ..base.clone()
    };
    assert_eq!(ids(s.list_artifacts(&corr).await.unwrap()), ["tr2"]);
    // Keyset paging by seq.
    let first = s
        .list_artifacts(&ArtifactQuery {
            limit: 4,
            ..base.clone()
        })
        .await
        .unwrap();
    let rest = s
        .list_artifacts(&ArtifactQuery {
            after_seq: first.last().and_then(|a| a.seq),
            ..base.clone()
        })
        .await
        .unwrap();
    assert_eq!(ids(first).len() + ids(rest.clone()).len(), 6);
    assert_eq!(ids(rest), ["tr1", "tr0"]);
    // Ad hoc artifacts are a different collection.
    let adhoc = ArtifactQuery::new(
        "t1",
        ArtifactKind::Transcript,
        ArtifactParent::AdhocCall,
        10,
    );
    assert!(s.list_artifacts(&adhoc).await.unwrap().is_empty());
}

async fn call_events_are_stored_once_in_arrival_order_per_feed() {
    let (_d, s) = store().await;
    let batch = [
        event("e1", "callStarted", t0(), Some("u1"), None),
        event("e2", "callStarted", t0(), Some("u2"), None),
        event("e3", "callStarted", t0(), None, Some("https://join/1")),
        event(
            "e4",
            "callEnded",
            t0() + Duration::minutes(5),
            Some("u1"),
            None,
        ),
    ];
    let w = s
        .put_call_events("t1", &batch, chrono::Utc::now())
        .await
        .unwrap();
    assert!(w.iter().all(|x| x.created));
    assert!(w.windows(2).all(|p| p[0].seq < p[1].seq));
    // A retried batch stores nothing new.
    let again = s
        .put_call_events("t1", &batch[..2], chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|x| (x.created, x.seq)).collect::<Vec<_>>(),
        [(false, w[0].seq), (false, w[1].seq)]
    );
    let q = CallEventQuery {
        tenant_id: "t1".into(),
        user_id: Some("u1".into()),
        limit: 10,
        ..Default::default()
    };
    let u1: Vec<_> = s.call_events(&q).await.unwrap();
    assert_eq!(
        u1.iter()
            .map(|e| (e.id.as_str(), e.event_type.as_str()))
            .collect::<Vec<_>>(),
        [("e1", "callStarted"), ("e4", "callEnded")]
    );
    assert_eq!(u1[1].event_time, t0() + Duration::minutes(5));
    let meeting = CallEventQuery {
        tenant_id: "t1".into(),
        join_web_url: Some("https://join/1".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(s.call_events(&meeting).await.unwrap().len(), 1);
    let after = CallEventQuery {
        tenant_id: "t1".into(),
        after_seq: Some(w[1].seq),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(s.call_events(&after).await.unwrap().len(), 2);
    let other = CallEventQuery {
        tenant_id: "t2".into(),
        limit: 10,
        ..Default::default()
    };
    assert!(s.call_events(&other).await.unwrap().is_empty());
}

async fn emergency_events_notify_their_policy_subscriptions_once() {
    let (_d, s) = store().await;
    let quota = [QuotaRule::per_tenant(matching::kind::EMERGENCY_CALL_EVENTS, 100)];
    for (id, app, policy) in [("s1", "a1", "HQ"), ("s2", "a2", "HQ"), ("s3", "a1", "Branch")] {
        s.create_subscription(&emergency_sub(id, app, policy), &quota)
            .await
            .unwrap()
            .unwrap();
    }
    // The same app on the same policy is a duplicate (the API answers 409).
    let dup = s
        .create_subscription(&emergency_sub("s4", "a1", "HQ"), &quota)
        .await
        .unwrap();
    assert_eq!(
        dup,
        Err(SubscriptionRefusal::Duplicate {
            existing_id: "s1".into()
        })
    );
    let mut e = event("em1", "callStarted", t0(), None, None);
    e.policy_name = Some("HQ".into());
    e.body = r#"{"id":"em1","policyName":"HQ","emergencyNumberDialed":"911"}"#.into();
    let plain = event("e9", "callStarted", t0(), Some("u1"), None);
    let now = Utc::now();
    s.put_call_events("t1", &[e.clone(), plain], now)
        .await
        .unwrap();
    // A retried ingest queues nothing more.
    let again = s.put_call_events("t1", &[e], now).await.unwrap();
    assert!(!again[0].created);
    let due = s.due_notifications(&DueQuery::new(now, 100, &[])).await.unwrap();
    let mut told: Vec<&str> = due.iter().map(|r| r.subscription_id.as_str()).collect();
    told.sort_unstable();
    assert_eq!(told, ["s1", "s2"], "the HQ policy's subscriptions only");
    let subject: serde_json::Value =
        serde_json::from_str(due[0].subject.as_deref().unwrap()).unwrap();
    assert_eq!(subject["type"], "emergencyCallEvent");
    assert_eq!(subject["policyName"], "HQ");
    assert_eq!(subject["body"]["emergencyNumberDialed"], "911");
    assert_eq!(due[0].event, "updated");
    let hq = CallEventQuery {
        tenant_id: "t1".into(),
        policy_name: Some("HQ".into()),
        limit: 10,
        ..Default::default()
    };
    let stored = s.call_events(&hq).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].policy_name.as_deref(), Some("HQ"));
}

async fn emergency_policies_are_replaced_by_name_within_their_tenant() {
    let (_d, s) = store().await;
    let policy = |name: &str, body: &str| EmergencyPolicyRow {
        name: name.into(),
        body: body.into(),
    };
    assert!(s
        .put_emergency_policy("t1", &policy("HQ", r#"{"dialStrings":["911"]}"#))
        .await
        .unwrap());
    assert!(s
        .put_emergency_policy("t1", &policy("Branch", r#"{"dialStrings":["112"]}"#))
        .await
        .unwrap());
    assert!(!s
        .put_emergency_policy("t1", &policy("HQ", r#"{"dialStrings":["911","933"]}"#))
        .await
        .unwrap());
    let all = s.emergency_policies("t1").await.unwrap();
    assert_eq!(
        all,
        [
            policy("Branch", r#"{"dialStrings":["112"]}"#),
            policy("HQ", r#"{"dialStrings":["911","933"]}"#)
        ]
    );
    assert!(s.emergency_policies("t2").await.unwrap().is_empty());
}

async fn meeting_methods_are_callable_through_the_store_trait_object() {
    let (_d, s) = store().await;
    let store: Arc<dyn Store> = s.clone();
    store
        .put_online_meeting("t1", &meeting("m9", "o9", "https://join/9"))
        .await
        .unwrap();
    assert!(store.online_meeting("t1", "m9").await.unwrap().is_some());
}
}
