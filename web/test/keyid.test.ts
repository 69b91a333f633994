import { describe, expect, it } from "vitest";
import { hex, keyId, sha1 } from "../src/keyid";

const utf8 = (s: string) => new TextEncoder().encode(s);

describe("key ids", () => {
  it("computes SHA-1", () => {
    expect(hex(sha1(utf8("")))).toBe("da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect(hex(sha1(utf8("abc")))).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
    expect(hex(sha1(utf8("a".repeat(1000))))).toBe("291e9a6c66994949b57ba5e650361e98fc36b1ba");
  });

  it("keeps the top m bits, like chordial.core.ids.key_id", () => {
    expect(keyId("apple", 6)).toBe(52n);
    expect(keyId("apple", 32)).toBe(3502124484n);
    expect(keyId("apple", 160)).toBe(1191711208712142963969027882130354934070048446784n);
    expect(keyId("ключ", 8)).toBe(179n);
  });
});
