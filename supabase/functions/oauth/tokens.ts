// A connection's tokens at rest, each encrypted with its own tokenContext (user, platform,
// kind). Sealing and opening sit together so the two can never disagree on a context.
import { decrypt, encrypt, type KeyRing, tokenContext } from "../_shared/crypto.ts";
import type { Platform } from "../_shared/providers/config.ts";
import type { StoredTokens } from "../_shared/providers/oauth.ts";

/** The token columns of public.social_connections. */
export type SealedTokens = { access_token: string; refresh_token: string | null };

/** Encrypts a connection's tokens for storage; no refresh token is stored as null. */
export async function sealTokens(
  ring: KeyRing,
  userId: string,
  platform: Platform,
  tokens: StoredTokens,
): Promise<SealedTokens> {
  return {
    access_token: await encrypt(
      ring,
      tokens.accessToken,
      tokenContext(userId, platform, "access_token"),
    ),
    refresh_token: tokens.refreshToken
      ? await encrypt(
        ring,
        tokens.refreshToken,
        tokenContext(userId, platform, "refresh_token"),
      )
      : null,
  };
}

/** Decrypts a stored connection's tokens. */
export async function openTokens(
  ring: KeyRing,
  row: SealedTokens & { user_id: string; platform: Platform },
): Promise<StoredTokens> {
  return {
    accessToken: await decrypt(
      ring,
      row.access_token,
      tokenContext(row.user_id, row.platform, "access_token"),
    ),
    refreshToken: row.refresh_token
      ? await decrypt(
        ring,
        row.refresh_token,
        tokenContext(row.user_id, row.platform, "refresh_token"),
      )
      : undefined,
  };
}
