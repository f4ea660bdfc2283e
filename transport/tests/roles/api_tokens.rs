//! [`ApiTokens`]: kept by digest, listed per user, revoked by id (and only the user's own
//! when a user is named).

use fmn_transport::{ApiToken, ApiTokens, token_digest};

async fn tokens<T: ApiTokens>(t: &T) {
    let ralph = ApiToken::new("fmn_secret-1", "ralph", "backup", false, 10);
    let admin = ApiToken::new("fmn_secret-2", "ops", "ops", true, 20);
    let ralph2 = ApiToken::new("fmn_secret-3", "ralph", "", false, 30);
    for token in [&ralph, &admin, &ralph2] {
        t.add_api_token(token).await.unwrap();
    }
    assert_eq!(ralph.digest, token_digest("fmn_secret-1"));
    assert!(
        !ralph.digest.contains("secret"),
        "the token itself is not kept"
    );
    assert_eq!(
        t.api_token(&ralph.digest).await.unwrap(),
        Some(ralph.clone())
    );
    assert_eq!(t.api_token(&token_digest("fmn_guess")).await.unwrap(), None);
    assert_eq!(
        t.api_tokens(None).await.unwrap(),
        [ralph.clone(), admin.clone(), ralph2.clone()]
    );
    assert_eq!(
        t.api_tokens(Some("ralph")).await.unwrap(),
        [ralph.clone(), ralph2.clone()]
    );

    // Ralph cannot revoke the operator's token; the operator (no user named) can any.
    assert!(!t.revoke_api_token(&admin.id, Some("ralph")).await.unwrap());
    assert!(t.revoke_api_token(&ralph.id, Some("ralph")).await.unwrap());
    assert!(
        !t.revoke_api_token(&ralph.id, None).await.unwrap(),
        "gone already"
    );
    assert_eq!(t.api_token(&ralph.digest).await.unwrap(), None);
    assert!(t.revoke_api_token(&admin.id, None).await.unwrap());
    assert_eq!(t.api_tokens(None).await.unwrap(), [ralph2]);
}

conformance!(tokens);
