package io.ztunnel.core.hbone;

import static io.ztunnel.core.testing.RawHttp2.END_STREAM;
import static io.ztunnel.core.testing.RawHttp2.connect;
import static io.ztunnel.core.testing.RawHttp2.data;
import static io.ztunnel.core.testing.RawHttp2.headers;
import static io.ztunnel.core.testing.RawHttp2.priority;
import static io.ztunnel.core.testing.RawHttp2.settings;
import static io.ztunnel.core.testing.RawHttp2.windowUpdate;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.identity.WorkloadCertificate;
import io.ztunnel.core.testing.MtlsBridge;
import io.ztunnel.core.testing.RawHttp2;
import io.ztunnel.core.testing.RawHttp2.Client;
import io.ztunnel.core.testing.RawHttp2.Frame;
import io.ztunnel.core.testing.TestApps;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * RFC 9113 behaviour of the inbound HBONE server on CONNECT streams, with frames written by hand through a
 * {@link MtlsBridge}: the checks h2spec cannot make because its requests are GETs, which the server answers at once
 * with 400 (see {@link H2specConformanceTest#EXPECTED}), and the answers this server had wrong before (errors the RFC
 * names, instead of GOAWAY(NO_ERROR) or RST_STREAM(CANCEL)).
 */
@Timeout(60)
class Http2ConformanceTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path caDir;

    // Set by each test before use; the teardown closes what was set.
    @SuppressWarnings("NullAway.Init")
    private HboneTestBed bed;

    @SuppressWarnings("NullAway.Init")
    private MtlsBridge bridge;

    @SuppressWarnings("NullAway.Init")
    private TestApps.Server app;

    @SuppressWarnings("NullAway.Init")
    private Client client;

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.close();
        }
        if (bridge != null) {
            bridge.close();
        }
        if (bed != null) {
            bed.close();
        }
        if (app != null) {
            app.close();
        }
    }

    /** Starts the server, an app behind it, and a raw client with {@code settings}; returns the app's authority. */
    private String start(Consumer<Socket> appHandler, int... settings) throws Exception {
        app = new TestApps.Server(appHandler);
        bed = new HboneTestBed(caDir);
        InetSocketAddress hbone = bed.startServer();
        WorkloadCertificate cert =
                bed.certs.fetch(HboneTestBed.CLIENT).get(10, TimeUnit.SECONDS).certificate();
        bridge = MtlsBridge.start(hbone, cert.privateKey(), cert.chain(), cert.roots());
        client = Client.open(bridge.address(), settings);
        InetSocketAddress a = app.address();
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    private Frame awaitResponse(int stream) throws IOException {
        return client.await(f -> f.type() == RawHttp2.HEADERS && f.stream() == stream, WAIT);
    }

    private Frame awaitReset(int stream) throws IOException {
        return client.await(f -> f.type() == RawHttp2.RST_STREAM && f.stream() == stream, WAIT);
    }

    private Frame awaitGoaway() throws IOException {
        return client.await(f -> f.type() == RawHttp2.GOAWAY, WAIT);
    }

    /** Echoes until the client's end of stream, then closes. */
    private static void echo(Socket s) {
        try (s) {
            s.getInputStream().transferTo(s.getOutputStream());
        } catch (IOException e) {
            // the stream was reset: nothing to echo any more
        }
    }

    /** Writes {@code text} at once, then waits for the client's end of stream. */
    private static Consumer<Socket> greeter(String text) {
        return s -> {
            try (s) {
                OutputStream out = s.getOutputStream();
                out.write(text.getBytes(StandardCharsets.US_ASCII));
                out.flush();
                s.getInputStream().transferTo(OutputStream.nullOutputStream());
            } catch (IOException e) {
                // reset: done
            }
        };
    }

    @Test
    void windowUpdateAndPriorityOnAHalfClosedRemoteStreamAreAcceptedAndTheResponseFlows() throws Exception {
        // generic/2/2 and generic/2/3 on a CONNECT stream: the app answers only after the client's end of stream.
        String target = start(s -> {
            try (s) {
                s.getInputStream().transferTo(OutputStream.nullOutputStream());
                s.getOutputStream().write("done".getBytes(StandardCharsets.US_ASCII));
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        client.send(connect(1, target));
        assertThat(awaitResponse(1).headerBlock().status().toString()).isEqualTo("200");
        client.send(data(1, true, "x".getBytes(StandardCharsets.US_ASCII)), windowUpdate(1, 1000), priority(1, 0));

        Frame reply = client.await(f -> f.type() == RawHttp2.DATA && f.stream() == 1 && f.payload().length > 0, WAIT);
        assertThat(new String(reply.payload(), StandardCharsets.US_ASCII)).isEqualTo("done");
        client.await(f -> f.stream() == 1 && f.endStream(), WAIT);
        assertThat(client.seen())
                .as("no reset and no GOAWAY")
                .noneMatch(f -> f.type() == RawHttp2.RST_STREAM || f.type() == RawHttp2.GOAWAY);
    }

    @Test
    void aStreamBeyondTheAdvertisedLimitIsRefused() throws Exception {
        // http2/5.1.2/1 on CONNECT streams, which stay open.
        String target = start(Http2ConformanceTest::echo);
        long limit = client.serverSettings().setting(RawHttp2.SETTINGS_MAX_CONCURRENT_STREAMS);
        assertThat(limit).as("SETTINGS_MAX_CONCURRENT_STREAMS").isEqualTo(200);
        for (int i = 0; i < limit; i++) {
            client.send(connect(1 + 2 * i, target));
        }
        for (int i = 0; i < limit; i++) {
            assertThat(awaitResponse(1 + 2 * i).headerBlock().status().toString())
                    .isEqualTo("200");
        }
        int over = 1 + 2 * (int) limit;
        client.send(connect(over, target));

        assertThat(awaitReset(over).errorCode()).isIn(RawHttp2.REFUSED_STREAM, RawHttp2.PROTOCOL_ERROR);
        client.roundTrip();
    }

    @Test
    void aZeroWindowUpdateOnAStreamIsAStreamErrorProtocolError() throws Exception {
        // http2/6.9/2 on an open CONNECT stream; the connection stays up.
        String target = start(Http2ConformanceTest::echo);
        client.send(connect(1, target));
        awaitResponse(1);
        client.send(windowUpdate(1, 0));

        assertThat(awaitReset(1).errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);
        client.roundTrip();
    }

    @Test
    void aZeroWindowUpdateOnTheConnectionIsAConnectionErrorProtocolError() throws Exception {
        start(Http2ConformanceTest::echo);
        client.send(windowUpdate(0, 0));

        assertThat(awaitGoaway().errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);
        client.awaitClose(WAIT);
    }

    @Test
    void aStreamWindowAbove2To31Minus1IsAStreamErrorFlowControlError() throws Exception {
        // http2/6.9.1/3 on an open CONNECT stream; before, the stream channel's close answered RST_STREAM(CANCEL).
        String target = start(Http2ConformanceTest::echo);
        client.send(connect(1, target));
        awaitResponse(1);
        client.send(windowUpdate(1, Integer.MAX_VALUE), windowUpdate(1, Integer.MAX_VALUE));

        assertThat(awaitReset(1).errorCode()).isEqualTo(RawHttp2.FLOW_CONTROL_ERROR);
        client.roundTrip();
    }

    @Test
    void aConnectionWindowAbove2To31Minus1IsAConnectionErrorFlowControlError() throws Exception {
        // http2/6.9.1/2; before, the connection's tail closed first and the GOAWAY said NO_ERROR.
        start(Http2ConformanceTest::echo);
        client.send(windowUpdate(0, Integer.MAX_VALUE), windowUpdate(0, Integer.MAX_VALUE));

        assertThat(awaitGoaway().errorCode()).isEqualTo(RawHttp2.FLOW_CONTROL_ERROR);
        client.awaitClose(WAIT);
    }

    @Test
    void aSecondHeadersWithoutEndStreamIsAStreamErrorProtocolError() throws Exception {
        // http2/8.1/1: trailers must end the stream.
        String target = start(Http2ConformanceTest::echo);
        client.send(connect(1, target));
        awaitResponse(1);
        client.send(headers(1, false, "x-trailer", "1"));

        assertThat(awaitReset(1).errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);
        client.roundTrip();
    }

    @Test
    void aPseudoHeaderInTrailersIsAStreamErrorProtocolError() throws Exception {
        // http2/8.1.2.1/3.
        String target = start(Http2ConformanceTest::echo);
        client.send(connect(1, target));
        awaitResponse(1);
        client.send(headers(1, true, ":method", "CONNECT"));

        assertThat(awaitReset(1).errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);
        client.roundTrip();
    }

    @Test
    void dataLongerThanTheContentLengthIsAStreamErrorProtocolError() throws Exception {
        // http2/8.1.2.6/1 (one DATA frame) and /2 (the sum of several) on CONNECT streams.
        String target = start(Http2ConformanceTest::echo);
        client.send(headers(1, false, ":method", "CONNECT", ":authority", target, "content-length", "1"));
        client.send(data(1, true, "test".getBytes(StandardCharsets.US_ASCII)));
        assertThat(awaitReset(1).errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);

        client.send(headers(3, false, ":method", "CONNECT", ":authority", target, "content-length", "1"));
        client.send(data(3, false, "t".getBytes(StandardCharsets.US_ASCII)));
        client.send(data(3, true, "est".getBytes(StandardCharsets.US_ASCII)));
        assertThat(awaitReset(3).errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);
        client.roundTrip();
    }

    @Test
    void theInitialWindowBoundsDataUntilSettingsAndWindowUpdatesOpenIt() throws Exception {
        // http2/6.9.1/1, 6.9.2/1 and 6.5.3/1 on a CONNECT stream: window 0, then SETTINGS raises it to 1, then
        // WINDOW_UPDATE opens the rest.
        String target = start(greeter("hello"), RawHttp2.SETTINGS_INITIAL_WINDOW_SIZE, 0);
        client.send(connect(1, target));
        awaitResponse(1);
        // The app's bytes are at the server now or soon; with a window of 0 none may come. The PING round trip shows
        // the server read everything before it; a DATA frame on stream 1 sent until then would be in seen().
        client.roundTrip();
        client.send(settings(RawHttp2.SETTINGS_INITIAL_WINDOW_SIZE, 1));

        Frame first = client.await(f -> f.type() == RawHttp2.DATA && f.stream() == 1, WAIT);
        assertThat(new String(first.payload(), StandardCharsets.US_ASCII)).isEqualTo("h");
        client.send(windowUpdate(1, 4));
        StringBuilder rest = new StringBuilder();
        while (rest.length() < 4) {
            Frame f = client.await(x -> x.type() == RawHttp2.DATA && x.stream() == 1, WAIT);
            rest.append(new String(f.payload(), StandardCharsets.US_ASCII));
        }
        assertThat(rest.toString()).isEqualTo("ello");
        assertThat(client.seen().stream()
                        .filter(f -> f.type() == RawHttp2.DATA && f.stream() == 1)
                        .mapToInt(f -> f.payload().length)
                        .sum())
                .as("DATA octets on stream 1, never more than the window allowed")
                .isEqualTo(5);
    }

    @Test
    void headersOnAStreamThatEndedIsAConnectionErrorStreamClosed() throws Exception {
        // http2/5.1/12: Netty forgets the stream and would answer RST_STREAM(STREAM_CLOSED).
        String target = start(Http2ConformanceTest::echo);
        client.send(connect(1, target));
        awaitResponse(1);
        client.send(data(1, true, new byte[0]));
        client.await(f -> f.stream() == 1 && f.endStream(), WAIT);
        client.roundTrip(); // our END_STREAM was read: the stream is closed on both sides
        client.send(connect(1, target));

        assertThat(awaitGoaway().errorCode()).isEqualTo(RawHttp2.STREAM_CLOSED);
        client.awaitClose(WAIT);
    }

    @Test
    void headersOnASkippedStreamIdentifierIsAConnectionErrorProtocolError() throws Exception {
        // http2/5.1.1/2: opening stream 5 implicitly closes 1 and 3.
        String target = start(Http2ConformanceTest::echo);
        client.send(connect(5, target));
        awaitResponse(5);
        client.send(connect(3, target));

        assertThat(awaitGoaway().errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);
        client.awaitClose(WAIT);
    }

    @Test
    void headersOnAStreamTheClientResetIsAStreamErrorStreamClosed() throws Exception {
        // RFC 9113 §5.1 (closed): after the peer's RST_STREAM, a stream error, and the connection stays up.
        String target = start(Http2ConformanceTest::echo);
        client.send(connect(1, target));
        awaitResponse(1);
        client.send(RawHttp2.frame(RawHttp2.RST_STREAM, 0, 1, new byte[] {0, 0, 0, 8}));
        client.roundTrip();
        client.send(headers(1, true, "x-late", "1"));

        assertThat(awaitReset(1).errorCode()).isEqualTo(RawHttp2.STREAM_CLOSED);
        client.roundTrip();
        client.send(connect(3, target));
        assertThat(awaitResponse(3).headerBlock().status().toString()).isEqualTo("200");
    }

    @Test
    void aNonConnectRequestThatEndedIsAnsweredWith400AndNoReset() throws Exception {
        // The request was complete: the 400 closes the stream and nothing more is sent on it.
        start(Http2ConformanceTest::echo);
        client.send(headers(1, true, ":method", "GET", ":scheme", "https", ":path", "/", ":authority", "x"));

        Frame response = awaitResponse(1);
        assertThat(response.headerBlock().status().toString()).isEqualTo("400");
        assertThat(response.flags() & END_STREAM).isEqualTo(END_STREAM);
        client.roundTrip();
        assertThat(client.seen()).noneMatch(f -> f.type() == RawHttp2.RST_STREAM);
    }

    @Test
    void aNonConnectRequestStillOpenIsAnsweredWith400ThenResetNoError() throws Exception {
        // RFC 9113 §8.1: a complete response before the complete request, then RST_STREAM(NO_ERROR).
        start(Http2ConformanceTest::echo);
        client.send(headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "x"));

        assertThat(awaitResponse(1).headerBlock().status().toString()).isEqualTo("400");
        assertThat(awaitReset(1).errorCode()).isEqualTo(RawHttp2.NO_ERROR);
    }

    @Test
    void aRequestWithoutMethodIsAStreamErrorProtocolError() throws Exception {
        // http2/8.1.2.3/2 (RFC 9113 §8.3.1): malformed, not a 400.
        start(Http2ConformanceTest::echo);
        client.send(headers(1, true, ":scheme", "https", ":path", "/", ":authority", "x"));

        assertThat(awaitReset(1).errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);
        assertThat(client.seen()).noneMatch(f -> f.type() == RawHttp2.HEADERS);
    }

    @Test
    void aConnectWithoutAuthorityIsAStreamErrorProtocolError() throws Exception {
        // RFC 9113 §8.5: CONNECT carries :authority.
        start(Http2ConformanceTest::echo);
        client.send(headers(1, false, ":method", "CONNECT"));

        assertThat(awaitReset(1).errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);
        client.roundTrip();
    }
}
