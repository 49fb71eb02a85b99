package io.powerproxy.config;

import java.util.Collection;
import java.util.Locale;

/** Finds the known key a mistyped one was probably meant to be, for "did you mean" hints. */
final class DidYouMean {

    private DidYouMean() {
    }

    /**
     * The known key closest to {@code key} in edits (ignoring case), or null when none is close: at most 2 edits,
     * or a quarter of the known key's length for long ones ({@code user_assigned_identity_client_id}).
     */
    static String closest(String key, Collection<String> known) {
        String typed = key.toLowerCase(Locale.ROOT);
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : known) {
            int distance = distance(typed, candidate.toLowerCase(Locale.ROOT));
            if (distance <= Math.max(2, candidate.length() / 4) && distance < bestDistance) {
                best = candidate;
                bestDistance = distance;
            }
        }
        return best;
    }

    /** Levenshtein distance: the fewest insertions, deletions and replacements that turn one text into the other. */
    static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int replace = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(replace, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }
}
