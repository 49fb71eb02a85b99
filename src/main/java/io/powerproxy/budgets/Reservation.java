package io.powerproxy.budgets;

/**
 * What {@link TokenBudgets#reserve} answered: tokens held in one client's budget for a deployment and minute while a
 * request runs, or the refusal to hold them; a granted one is settled once with {@link TokenBudgets#settle}.
 *
 * @param client the client's name
 * @param deployment the deployment
 * @param minute the minute (since the epoch) that holds the tokens, where the settlement goes too
 * @param tokens the tokens asked for
 * @param granted whether they fit in the budget and are held
 * @param used the minute's tokens, used and held: with these when granted, without them when refused
 * @param shared whether the store shared by every replica holds them (false for a reservation that only this
 *     process holds)
 */
public record Reservation(String client, String deployment, long minute, long tokens, boolean granted, long used,
        boolean shared) {

    /**
     * The rule every store applies, atomically with the booking: tokens fit when the budget is above 0 and either the
     * minute has nothing used or held yet, or the minute's tokens plus these stay within the budget. The first case
     * lets a request that alone needs more than the whole budget run, alone, at the start of a minute: refusing it
     * until the budget grows would refuse it forever.
     */
    public static boolean fits(long used, long tokens, long limit) {
        return limit > 0 && (used <= 0 || used + tokens <= limit);
    }

    static Reservation granted(String client, String deployment, long minute, long tokens, long used, boolean shared) {
        return new Reservation(client, deployment, minute, tokens, true, used, shared);
    }

    static Reservation refused(String client, String deployment, long minute, long tokens, long used) {
        return new Reservation(client, deployment, minute, tokens, false, used, false);
    }
}
