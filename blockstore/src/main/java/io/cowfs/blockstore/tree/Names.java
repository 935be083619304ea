package io.cowfs.blockstore.tree;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Names as bytes and as cowfs stores them: UTF-8 only (docs/DESIGN-DECISIONS.md, 7). One strict
 * test serves import (names read from the host) and the kernel adapter (names in requests), so
 * the two cannot disagree on what a name is.
 */
public final class Names {
    private Names() {}

    /**
     * name decoded, or null if it is not valid UTF-8. Never decodes with U+FFFD in place of bad
     * bytes: {@code caf\xe9} would then be the name {@code caf\uFFFD}, another file's.
     *
     * <p>Costs one {@code new String} for an ordinary name. Only a name that decodes with a U+FFFD
     * in it is encoded again and compared: a malformed sequence always decodes to U+FFFD, and a
     * U+FFFD of the name's own (EF BF BD) encodes back the same, so the two cannot be confused.
     */
    public static String utf8(byte[] name) {
        String s = new String(name, StandardCharsets.UTF_8);
        if (s.indexOf('\uFFFD') >= 0 && !Arrays.equals(s.getBytes(StandardCharsets.UTF_8), name)) {
            return null;
        }
        return s;
    }

    /**
     * name for a message: its valid UTF-8 as text, every other byte, control characters and the
     * backslash escaped as in bash's $'...' ("caf\xe9").
     */
    public static String escaped(byte[] name) {
        StringBuilder sb = new StringBuilder();
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder();
        ByteBuffer in = ByteBuffer.wrap(name);
        CharBuffer out = CharBuffer.allocate(name.length);
        while (true) {
            CoderResult r = d.decode(in, out, true);
            out.flip();
            while (out.hasRemaining()) {
                char ch = out.get();
                if (ch == '\\') {
                    sb.append("\\\\");
                } else if (ch < 0x20 || ch == 0x7f) {
                    sb.append(String.format("\\x%02x", (int) ch));
                } else {
                    sb.append(ch);
                }
            }
            out.clear();
            if (!r.isError()) {
                return sb.toString();
            }
            for (int i = 0; i < r.length(); i++) {
                sb.append(String.format("\\x%02x", in.get() & 0xff));
            }
        }
    }
}
