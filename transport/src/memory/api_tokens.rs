//! [`ApiTokens`] in process.

use super::*;
use crate::{ApiToken, ApiTokens};

impl ApiTokens for MemoryTransport {
    async fn add_api_token(&self, token: &ApiToken) -> Result<(), TransportError> {
        self.lock()
            .api_tokens
            .insert(token.digest.clone(), token.clone());
        Ok(())
    }

    async fn api_token(&self, digest: &str) -> Result<Option<ApiToken>, TransportError> {
        Ok(self.lock().api_tokens.get(digest).cloned())
    }

    async fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>, TransportError> {
        let mut tokens: Vec<ApiToken> = self
            .lock()
            .api_tokens
            .values()
            .filter(|t| user.is_none_or(|u| t.user == u))
            .cloned()
            .collect();
        tokens.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(tokens)
    }

    async fn revoke_api_token(&self, id: &str, user: Option<&str>) -> Result<bool, TransportError> {
        let mut st = self.lock();
        let found = st
            .api_tokens
            .values()
            .find(|t| t.id == id && user.is_none_or(|u| t.user == u))
            .map(|t| t.digest.clone());
        Ok(found.is_some_and(|d| st.api_tokens.remove(&d).is_some()))
    }
}
