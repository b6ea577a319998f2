package io.ztunnel.cni.rules;

import java.net.Inet6Address;
import java.net.InetAddress;

/** Address text as the Linux tools print it (IPv6 compressed, lower case). Stateless. */
final class Addresses {
    private Addresses() {}

    /** {@code 169.254.7.127}, {@code fd16:9254:7127:1337:ffff:ffff:ffff:ffff}, {@code ::1}. */
    static String format(InetAddress address) {
        if (!(address instanceof Inet6Address)) {
            return address.getHostAddress();
        }
        byte[] b = address.getAddress();
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) {
            groups[i] = ((b[2 * i] & 0xff) << 8) | (b[2 * i + 1] & 0xff);
        }
        // The longest run of two or more zero groups becomes "::" (RFC 5952).
        int bestStart = -1;
        int bestLen = 0;
        for (int i = 0; i < 8; ) {
            if (groups[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLen && j - i >= 2) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(groups[i]));
        }
        return sb.toString();
    }

    /**
     * An address or prefix in canonical form with an explicit prefix length: {@code 10.0.0.1} and
     * {@code 10.0.0.1/32} both give {@code 10.0.0.1/32}. Text that is no address is returned as is.
     */
    static String canonicalPrefix(String text) {
        int slash = text.indexOf('/');
        String addr = slash < 0 ? text : text.substring(0, slash);
        try {
            InetAddress a = InetAddress.ofLiteral(addr);
            String len = slash < 0 ? (a instanceof Inet6Address ? "128" : "32") : text.substring(slash + 1);
            return format(a) + "/" + len;
        } catch (IllegalArgumentException e) {
            return text;
        }
    }
}
