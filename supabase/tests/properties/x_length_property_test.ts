// Property: the database's X length (private.x_weighted_length, a port of twitter-text's
// rules to SQL) equals twitter-text 3.1.0's parseTweet(text).weightedLength, on texts built
// from words in scripts of both weights (Latin, Cyrillic, Hebrew, Georgian count 1; CJK,
// Hangul and astral characters 2; the punctuation ranges that count 1), combining marks (NFC),
// URLs with and without a protocol, with paths and trailing punctuation, and emoji with
// modifiers, keycaps, flags and ZWJ sequences from the library's emoji list.
//
// The database refuses a target whose X length is over 280 where the text is written and
// when its content is scheduled, so this equality is what keeps X from refusing at publishing.
import assert from "node:assert/strict";
import fc from "fast-check";
import twitter from "twitter-text";
import { asService } from "../../functions/_shared/db.ts";
import { dbTest } from "../../functions/_testing/harness.ts";

const WORD_CHARS = [
  "a",
  "Z",
  "q",
  "0",
  "7",
  "é",
  "ß",
  "Ж",
  "ы",
  "א",
  "ع",
  "ऄ",
  "ა",
  "e\u0301",
  "A\u030A",
  "ᄀ",
  "日",
  "本",
  "한",
  "—",
  "…",
  "′",
  "€",
  "𝔸",
  "𠀀",
  "!",
  "?",
  ",",
  "-",
  "_",
  "'",
  "(",
  ")",
  "&",
  "%",
  "@",
  "#",
  "$",
  "*",
  "+",
  ":",
  ";",
];
const SEPARATORS = [" ", " ", " ", "\n", ", ", " - "];
// Known top-level domains, and a few that are not (zzz, qq, com-x): those runs are no URL, and
// send the SQL down its exact-pattern path.
const TLDS = [
  "com",
  "org",
  "net",
  "io",
  "dev",
  "co",
  "de",
  "fr",
  "jp",
  "app",
  "info",
  "museum",
  "zzz",
  "qq",
  "com-x",
];
const EMOJI = [
  "😀",
  "🚀",
  "❤️",
  "☀️",
  "☀",
  "©️",
  "®️",
  "™",
  "👍🏻",
  "👋🏿",
  "1️⃣",
  "#️⃣",
  "🇺🇸",
  "🇫🇷",
  "🇯🇵",
  "👨‍👩‍👧",
  "👩‍💻",
  "🏳️‍🌈",
  "🏴󠁧󠁢󠁥󠁮󠁧󠁿",
  "🤷‍♀️",
];

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/);
const url = fc.tuple(
  fc.constantFrom("", "http://", "https://"),
  fc.option(label, { nil: undefined }),
  label,
  fc.constantFrom(...TLDS),
  fc.option(fc.stringMatching(/^\/[a-z0-9_\-/=.]{0,12}$/), { nil: undefined }),
  fc.constantFrom("", "", ".", ",", "!", ")"),
).map(([scheme, sub, domain, tld, path, trailer]) =>
  `${scheme}${sub ? `${sub}.` : ""}${domain}.${tld}${path ?? ""}${trailer}`
);
const word = fc.array(fc.constantFrom(...WORD_CHARS), { minLength: 1, maxLength: 12 })
  .map((chars) => chars.join(""));
const token = fc.oneof(
  { arbitrary: word, weight: 5 },
  { arbitrary: url, weight: 2 },
  { arbitrary: fc.constantFrom(...EMOJI), weight: 2 },
);
const text = fc.array(fc.tuple(token, fc.constantFrom(...SEPARATORS)), { maxLength: 30 })
  .map((parts) => parts.map(([t, sep]) => t + sep).join(""));

dbTest("x_weighted_length equals twitter-text's weightedLength", async () => {
  await fc.assert(
    fc.asyncProperty(text, async (t) => {
      const [row] = await asService((tx) => tx`select private.x_weighted_length(${t}) as length`);
      assert.equal(row.length, twitter.parseTweet(t).weightedLength, JSON.stringify(t));
    }),
    { numRuns: 400 },
  );
});

dbTest("x_weighted_length: examples, each checked against the library too", async () => {
  const cases: [string, number][] = [
    ["", 0],
    ["hello", 5],
    ["日本語", 6],
    ["https://example.com/a/very/long/path/that/is/much/longer/than/twenty/three", 23],
    ["see example.com.", 28],
    ["👨‍👩‍👧", 2],
    ["🇺🇸", 2],
    ["e\u0301", 1],
    ["a".repeat(280), 280],
  ];
  const [row] = await asService((tx) =>
    tx`select array_agg(private.x_weighted_length(t) order by n) as lengths
       from unnest(${cases.map(([t]) => t)}::text[]) with ordinality as c (t, n)`
  );
  assert.deepEqual(row.lengths, cases.map(([, n]) => n));
  assert.deepEqual(
    cases.map(([t]) => twitter.parseTweet(t).weightedLength),
    cases.map(([, n]) => n),
  );
});
