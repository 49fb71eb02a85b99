package io.powerproxy.logging;

import ch.qos.logback.classic.pattern.ThrowableProxyConverter;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.StackTraceElementProxy;

/**
 * Logback's stack trace ({@code %ex}) with each exception's message escaped by {@link Printable}: the trace keeps
 * its lines, but a message can no longer add a line of its own. Used as {@code %printableEx} in logback.xml.
 */
public final class PrintableThrowableConverter extends ThrowableProxyConverter {

    @Override
    protected String throwableProxyToString(IThrowableProxy throwable) {
        return super.throwableProxyToString(new PrintableThrowable(throwable));
    }

    /** An exception as Logback sees it, with its message, and those of its causes and suppressed ones, escaped. */
    private record PrintableThrowable(IThrowableProxy throwable) implements IThrowableProxy {

        @Override
        public String getMessage() {
            return Printable.of(throwable.getMessage());
        }

        @Override
        public String getClassName() {
            return throwable.getClassName();
        }

        @Override
        public StackTraceElementProxy[] getStackTraceElementProxyArray() {
            return throwable.getStackTraceElementProxyArray();
        }

        @Override
        public int getCommonFrames() {
            return throwable.getCommonFrames();
        }

        @Override
        public IThrowableProxy getCause() {
            IThrowableProxy cause = throwable.getCause();
            return cause == null ? null : new PrintableThrowable(cause);
        }

        @Override
        public IThrowableProxy[] getSuppressed() {
            IThrowableProxy[] suppressed = throwable.getSuppressed();
            if (suppressed == null) {
                return null;
            }
            IThrowableProxy[] printable = new IThrowableProxy[suppressed.length];
            for (int i = 0; i < suppressed.length; i++) {
                printable[i] = new PrintableThrowable(suppressed[i]);
            }
            return printable;
        }

        @Override
        public boolean isCyclic() {
            return throwable.isCyclic();
        }
    }
}
