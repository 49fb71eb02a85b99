package io.powerproxy.usage;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The jtokkit encoding of a model family: o200k_base for the newer models, cl100k_base for the older ones.
 *
 * <p>o200k_base: gpt-4o, chatgpt-4o, gpt-4.1, gpt-4.5, gpt-5, gpt-oss and the o-series (o1, o3, o4, ...).
 * cl100k_base: gpt-35-turbo / gpt-3.5-turbo, gpt-4, gpt-4-32k, gpt-4-turbo, text-embedding-*, ada, and the
 * davinci-002 / babbage-002 completions models. Names are matched case-insensitively and anywhere in the name,
 * so version suffixes ({@code gpt-4o-2024-08-06}, {@code gpt-4-0613}) and deployment-style names
 * ({@code prod-gpt-35-turbo-16k}, {@code gpt4o}) find their family; a path-style prefix such as
 * {@code azure/} is ignored. A null or unknown name gets o200k_base, the encoding of every current model.
 *
 * <p>The encodings come from one process-wide lazy jtokkit registry: each is loaded on first use (about a
 * quarter of a second) and then shared; jtokkit encodings are thread-safe. Count with
 * {@link #count(Encoding, String)} or {@link Encoding#countTokensOrdinary}, never {@link Encoding#countTokens},
 * which throws on text that contains a special token such as {@code <|endoftext|>}.
 */
final class TokenEncodings {

    // Family names, anywhere in the name but not glued to a preceding letter or digit; o200k is tried first
    // so that gpt-4o and gpt-4.1 are not taken for gpt-4.
    private static final Pattern O200K = Pattern.compile(
            "(?<![a-z0-9])(?:gpt-?4o|gpt-?4\\.[1-9]|gpt-?5|gpt-oss|chatgpt|o[1-9](?![0-9]))");
    private static final Pattern CL100K = Pattern.compile(
            "(?<![a-z0-9])(?:gpt-?35|gpt-?3\\.5|gpt-?4(?![0-9a-z.])|text-embedding|ada(?![a-z])|davinci-002|babbage-002)");

    private TokenEncodings() {
    }

    /**
     * Returns the encoding type of a model or deployment name.
     *
     * @param model a model name as the upstream reports it, a deployment name, or null
     * @return {@link EncodingType#CL100K_BASE} for the older families, else {@link EncodingType#O200K_BASE}
     */
    static EncodingType typeFor(String model) {
        if (model == null || model.isBlank()) {
            return EncodingType.O200K_BASE;
        }
        String name = model.strip().toLowerCase(Locale.ROOT);
        name = name.substring(name.lastIndexOf('/') + 1);
        if (O200K.matcher(name).find()) {
            return EncodingType.O200K_BASE;
        }
        if (CL100K.matcher(name).find()) {
            return EncodingType.CL100K_BASE;
        }
        return EncodingType.O200K_BASE;
    }

    /**
     * Returns the shared encoding of a model or deployment name, loading it on first use.
     *
     * @param model a model name as the upstream reports it, a deployment name, or null
     * @return the encoding, shared by all callers
     */
    static Encoding forModel(String model) {
        return Registry.INSTANCE.getEncoding(typeFor(model));
    }

    /**
     * Counts the tokens of a text, taking special-token strings such as {@code <|endoftext|>} as ordinary text.
     *
     * @param encoding the encoding
     * @param text the text, or null
     * @return the number of tokens, 0 for null or empty text
     */
    static int count(Encoding encoding, String text) {
        return text == null || text.isEmpty() ? 0 : encoding.countTokensOrdinary(text);
    }

    // The holder idiom makes the registry itself lazy; the registry then loads each encoding once.
    private static final class Registry {
        static final EncodingRegistry INSTANCE = Encodings.newLazyEncodingRegistry();
    }
}
