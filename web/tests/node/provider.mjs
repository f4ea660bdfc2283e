// A real OpenID provider for the sign-in tests: npm's oidc-provider (certified), with its
// development login and consent pages (any login is accepted, as the account it names).
// Usage: node provider.mjs PORT REDIRECT_URI
import Provider from 'oidc-provider';

const [port, redirectUri] = process.argv.slice(2);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'fmn',
    client_secret: 'fmn-test-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  // The claims of the scopes asked for go in the ID token, as Fedora's provider does.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'nickname', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          nickname: `${id}-nick`,
          name: id,
          email: `${id}@example.org`,
          email_verified: true,
          // "ops" is in the admins' group; everyone is in "packager".
          groups: id === 'ops' ? ['packager', 'sysadmin-main'] : ['packager'],
        };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['fmn-test-cookie-key'] },
});
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${port}`);
});
