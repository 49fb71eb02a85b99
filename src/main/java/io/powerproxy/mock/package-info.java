/**
 * The built-in mock upstream of {@code aoai.mock_response}: the proxy answers every request itself with the
 * configured JSON, or, for a streaming request, with the same content as an Azure-style SSE stream.
 */
package io.powerproxy.mock;
