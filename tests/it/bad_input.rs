//! Malformed bus messages: each dead-lettered with a reason that says what is wrong and where,
//! none dropped, the good ones around them still dispatched.

use std::time::Duration;

use fmn_consumer::{ConsumerOptions, JsonLines, consume};
use fmn_transport::{DeadLetters, MemoryTransport, Registry, Stage, WorkQueue, WorkerInfo};
use tokio_util::sync::CancellationToken;

/// The input, and what the dead letters must say about it.
pub fn bad_lines() -> (String, Vec<(&'static str, String)>) {
    let huge = format!(
        r#"{{"topic": "a.b", "msg": {{"x": "{}"}}}}"#,
        "y".repeat(10 << 20)
    );
    let huge_len = huge.len();
    let lines = [
        r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "ok-1", "msg": {"owner": "ralph"}}"#.to_owned(),
        "this is not json".to_owned(),
        r#"{"msg": {"owner": "ralph"}, "msg_id": "x"}"#.to_owned(),
        r#"{"topic": "bodhi.update.comment", "body": [1, 2]}"#.to_owned(),
        String::new(),
        huge,
        r#"{"id": "ok-2", "topic": "bodhi.update.comment", "headers": {}, "body": {"comment": {}}}"#.to_owned(),
        "[1, 2]".to_owned(),
        r#"{"topic": "a.b", "msg": {}, "timestamp": "noon"}"#.to_owned(),
    ];
    let expected = vec![
        (
            "input.jsonl:2",
            "not valid JSON: expected ident at line 1 column 2".to_owned(),
        ),
        ("input.jsonl:3", "no `topic` field".to_owned()),
        (
            "input.jsonl:4",
            "`body` must be a JSON object, found an array".to_owned(),
        ),
        (
            "input.jsonl:6",
            format!("message is {huge_len} bytes, over the limit of 1048576 bytes"),
        ),
        (
            "input.jsonl:8",
            "expected a JSON object, found an array".to_owned(),
        ),
        (
            "input.jsonl:9",
            "`timestamp` must be a number (seconds since the epoch), found a string".to_owned(),
        ),
    ];
    (lines.join("\n"), expected)
}

#[tokio::test]
async fn malformed_messages_are_dead_lettered_with_their_line_and_reason() {
    let (input, expected) = bad_lines();
    let t = MemoryTransport::default();
    t.register_worker(&WorkerInfo::local("w")).await.unwrap();
    let mut source = JsonLines::new(input.as_bytes(), "input.jsonl");
    let report = consume(
        &t,
        &mut source,
        &ConsumerOptions::default(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.read, report.dispatched, report.dead_lettered),
        (8, 2, 6)
    );

    let dead = t.dead_letters(100).await.unwrap();
    let got: Vec<(&str, &str)> = dead
        .iter()
        .map(|d| (d.item.origin.as_str(), d.item.reason.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = expected.iter().map(|(o, r)| (*o, r.as_str())).collect();
    assert_eq!(got, want);
    assert!(dead.iter().all(|d| d.item.stage == Stage::Consumer));
    // The oversized line is kept in part, with its full size.
    let huge = &dead[3].item;
    assert_eq!(huge.payload.len(), 64 * 1024);
    assert!(huge.payload_bytes > 10 << 20);
    assert_eq!(dead[0].item.payload, "this is not json");

    let work = t
        .read_work("w", 10, Duration::from_millis(50))
        .await
        .unwrap();
    let ids: Vec<&str> = work.iter().map(|e| e.item.envelope.id.as_str()).collect();
    assert_eq!(ids, ["ok-1", "ok-2"]);
    assert_eq!(work[1].item.origin, "input.jsonl:7");
}
