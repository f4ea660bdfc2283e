//! [`DeadLetters`]: what could not go on is kept with the reason, its payload cut.

use fmn_transport::{DeadLetter, DeadLetters, Stage};

/// Dead letters are kept in order, with their reason; a long payload is cut, its size kept.
async fn dead_letters<T: DeadLetters>(t: &T) {
    let big = vec![b'x'; DeadLetter::MAX_PAYLOAD + 10];
    t.dead_letter(&[
        DeadLetter::new(Stage::Consumer, "in.jsonl:2", "not valid JSON", b"{oops"),
        DeadLetter::new(Stage::Sender, "email:ralph", "550 no such user", &big),
    ])
    .await
    .unwrap();
    assert_eq!(t.dead_letter_count().await.unwrap(), 2);
    let dead = t.dead_letters(10).await.unwrap();
    assert_eq!(
        dead[0].item,
        DeadLetter::new(Stage::Consumer, "in.jsonl:2", "not valid JSON", b"{oops")
    );
    assert_eq!(dead[1].item.stage, Stage::Sender);
    assert_eq!(dead[1].item.payload.len(), DeadLetter::MAX_PAYLOAD);
    assert_eq!(dead[1].item.payload_bytes, DeadLetter::MAX_PAYLOAD + 10);
}

conformance!(dead_letters);
