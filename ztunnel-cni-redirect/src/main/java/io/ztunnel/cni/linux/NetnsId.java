package io.ztunnel.cni.linux;

/**
 * The identity of a network namespace: the (inode, device) pair that {@code fstat} reports for any
 * fd or path referring to it. Two opens of the same namespace give equal ids; a recreated pod
 * sandbox gets a new inode. Immutable.
 *
 * @param inode {@code st_ino}
 * @param dev {@code st_dev}
 */
public record NetnsId(long inode, long dev) {
    @Override
    public String toString() {
        return "net:[" + Long.toUnsignedString(inode) + "]@" + Long.toUnsignedString(dev);
    }
}
