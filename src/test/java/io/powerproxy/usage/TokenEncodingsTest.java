package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TokenEncodingsTest {

    private static final List<Integer> O200K_HELLO_WORLD = List.of(24912, 2375);
    private static final List<Integer> CL100K_HELLO_WORLD = List.of(15339, 1917);

    @Test
    void newerFamiliesUseO200kBase() {
        for (String model : List.of("gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini", "GPT-4O-MINI-2024-07-18", "chatgpt-4o-latest",
                "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano-2025-04-14", "gpt-4.5-preview", "gpt-5", "gpt-5-mini", "gpt-5-chat",
                "o1", "o1-mini", "o1-preview", "o3", "o3-mini", "o4-mini", "gpt-oss-120b", "azure/gpt-4o", "prod-gpt4o-eastus")) {
            assertEquals(O200K_HELLO_WORLD, helloWorld(model), model);
            assertEquals(EncodingType.O200K_BASE, TokenEncodings.typeFor(model), model);
        }
    }

    @Test
    void olderFamiliesUseCl100kBase() {
        for (String model : List.of("gpt-35-turbo", "gpt-35-turbo-16k", "gpt-35-turbo-instruct", "gpt-3.5-turbo-0125",
                "gpt-4", "gpt-4-0613", "gpt-4-32k", "gpt-4-turbo", "gpt-4-turbo-2024-04-09", "gpt-4-1106-preview",
                "GPT-4-0125-Preview", "gpt4-turbo", "text-embedding-ada-002", "text-embedding-3-small",
                "text-embedding-3-large", "ada", "davinci-002", "babbage-002", "prod-gpt-35-turbo-16k")) {
            assertEquals(CL100K_HELLO_WORLD, helloWorld(model), model);
            assertEquals(EncodingType.CL100K_BASE, TokenEncodings.typeFor(model), model);
        }
    }

    @Test
    void unknownAndMissingModelsUseTheNewestEncoding() {
        for (String model : new String[] {null, "", "  ", "my-deployment", "dall-e-3", "whisper", "adam-chat", "gpt-40"}) {
            assertEquals(EncodingType.O200K_BASE, TokenEncodings.typeFor(model), String.valueOf(model));
        }
    }

    @Test
    void eachEncodingIsLoadedOnceAndShared() {
        assertSame(TokenEncodings.forModel("gpt-4o"), TokenEncodings.forModel("o3-mini"));
        assertSame(TokenEncodings.forModel("gpt-4"), TokenEncodings.forModel("gpt-35-turbo"));
        assertEquals("o200k_base", TokenEncodings.forModel("gpt-5").getName());
        assertEquals("cl100k_base", TokenEncodings.forModel("gpt-4-32k").getName());
    }

    @Test
    void specialTokenStringsAreCountedAsOrdinaryText() {
        String text = "Please summarise: <|endoftext|> and <|fim_prefix|> are literal text here.";

        int o200k = TokenEncodings.count(TokenEncodings.forModel("gpt-4o"), text);
        int cl100k = TokenEncodings.count(TokenEncodings.forModel("gpt-4"), text);

        assertEquals(TokenEncodings.forModel("gpt-4o").countTokensOrdinary(text), o200k);
        assertEquals(TokenEncodings.forModel("gpt-4").countTokensOrdinary(text), cl100k);
        assertEquals(7, TokenEncodings.count(TokenEncodings.forModel("gpt-4o"), "<|endoftext|>"));
        assertEquals(0, TokenEncodings.count(TokenEncodings.forModel("gpt-4o"), null));
    }

    private static List<Integer> helloWorld(String model) {
        IntArrayList ids = TokenEncodings.forModel(model).encodeOrdinary("hello world");
        return ids.boxed();
    }
}
