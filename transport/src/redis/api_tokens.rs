//! [`ApiTokens`] over Redis: one hash, `fmn:api-tokens`, digest -> the token's JSON.

use super::*;
use crate::{ApiToken, ApiTokens};

const API_TOKENS: &str = "api-tokens";

fn decode(digest: &str, json: &str) -> Result<ApiToken, TransportError> {
    serde_json::from_str(json).map_err(|e| TransportError::Decode {
        queue: API_TOKENS.into(),
        id: digest.to_owned(),
        reason: e.to_string(),
    })
}

impl ApiTokens for RedisTransport {
    async fn add_api_token(&self, token: &ApiToken) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        redis::cmd("HSET")
            .arg(self.key(API_TOKENS))
            .arg(&token.digest)
            .arg(encode(token))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn api_token(&self, digest: &str) -> Result<Option<ApiToken>, TransportError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = redis::cmd("HGET")
            .arg(self.key(API_TOKENS))
            .arg(digest)
            .query_async(&mut conn)
            .await?;
        json.map(|j| decode(digest, &j)).transpose()
    }

    async fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>, TransportError> {
        let mut conn = self.conn.clone();
        // Tokens are made by hand, a few per user: one hash read whole is enough.
        let all: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.key(API_TOKENS))
            .query_async(&mut conn)
            .await?;
        let mut tokens = all
            .iter()
            .map(|(digest, json)| decode(digest, json))
            .collect::<Result<Vec<_>, _>>()?;
        tokens.retain(|t| user.is_none_or(|u| t.user == u));
        tokens.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(tokens)
    }

    async fn revoke_api_token(&self, id: &str, user: Option<&str>) -> Result<bool, TransportError> {
        let found = self
            .api_tokens(user)
            .await?
            .into_iter()
            .find(|t| t.id == id);
        let Some(token) = found else {
            return Ok(false);
        };
        let mut conn = self.conn.clone();
        let removed: u64 = redis::cmd("HDEL")
            .arg(self.key(API_TOKENS))
            .arg(&token.digest)
            .query_async(&mut conn)
            .await?;
        Ok(removed == 1)
    }
}
