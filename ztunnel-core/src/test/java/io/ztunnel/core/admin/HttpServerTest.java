package io.ztunnel.core.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The admin and readiness HTTP server's connection pipeline on an {@link EmbeddedChannel}: routing, keep-alive,
 * handlers that answer later or fail, malformed and oversized requests, a silent client, a reset. Each test ends with
 * nothing left unread or leaked.
 */
class HttpServerTest {
    private final Readiness readiness = new Readiness();
    private final CompletableFuture<HttpServer.Response> later = new CompletableFuture<>();
    private final HttpServer server = new HttpServer(Map.of(
            "/healthz/ready", r -> CompletableFuture.completedFuture(readiness.response(r.method())),
            "/echo",
                    r -> CompletableFuture.completedFuture(HttpServer.Response.text(
                            HttpResponseStatus.OK, r.method() + " " + r.param("q") + " " + r.body())),
            "/later", r -> later,
            "/broken",
                    r -> {
                        throw new IllegalStateException("handler bug");
                    }));
    private final EmbeddedChannel channel = new EmbeddedChannel(server.initializer());

    private void send(String request) {
        channel.writeInbound(Unpooled.copiedBuffer(request, StandardCharsets.US_ASCII));
    }

    /** Everything written back so far. */
    private String answer() {
        channel.runPendingTasks();
        StringBuilder out = new StringBuilder();
        ByteBuf buf;
        while ((buf = channel.readOutbound()) != null) {
            out.append(buf.toString(StandardCharsets.UTF_8));
            buf.release();
        }
        return out.toString();
    }

    private void assertDone() {
        assertThat(answer()).isEmpty();
        assertThat(channel.finishAndReleaseAll()).isFalse();
    }

    @Test
    void routesByPathAndKeepsTheConnectionAlive() {
        send("GET /healthz/ready HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(answer())
                .startsWith("HTTP/1.1 200 OK\r\n")
                .contains("content-length: 6\r\n")
                .contains("connection: keep-alive")
                .endsWith("\r\n\r\nready\n");
        readiness.register("proxy");
        send("GET /healthz/ready HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(answer()).startsWith("HTTP/1.1 500 ").endsWith("not ready, pending: proxy\n");
        assertThat(channel.isOpen()).isTrue();
        assertDone();
    }

    @Test
    void passesMethodQueryAndBodyToTheHandler() {
        send("POST /echo?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody");
        assertThat(answer()).endsWith("POST 1 body");
        assertDone();
    }

    @Test
    void answersUnknownPathsWithNotFound() {
        send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(answer())
                .startsWith("HTTP/1.1 404 Not Found")
                .contains("content-length: 0\r\n")
                .endsWith("\r\n\r\n");
        assertDone();
    }

    @Test
    void aHandlerMayAnswerLater() {
        send("GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(answer()).isEmpty();
        later.complete(HttpServer.Response.json("{}"));
        assertThat(answer())
                .startsWith("HTTP/1.1 200 OK")
                .contains("application/json")
                .endsWith("{}");
        assertDone();
    }

    @Test
    void aFailingHandlerGetsAServerErrorWithItsReason() {
        send("GET /broken HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(answer()).startsWith("HTTP/1.1 500 ").endsWith("error: handler bug\n");
        assertThat(channel.isOpen()).as("the connection survives").isTrue();
        assertDone();
    }

    @Test
    void closesAfterAnsweringWhenTheClientAsksTo() {
        send("GET /healthz/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(answer()).startsWith("HTTP/1.1 200 OK");
        assertThat(channel.isOpen()).isFalse();
        assertDone();
    }

    @Test
    void answersAMalformedRequestWithBadRequestAndCloses() {
        send("NOT HTTP AT ALL\r\n\r\n");
        assertThat(answer()).startsWith("HTTP/1.1 400 Bad Request").endsWith("malformed request\n");
        assertThat(channel.isOpen()).isFalse();
        assertDone();
    }

    @Test
    void refusesABodyOverTheLimitAndSkipsIt() {
        send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n");
        assertThat(answer()).startsWith("HTTP/1.1 413 Request Entity Too Large");
        send("x".repeat(70_000));
        assertThat(answer()).as("the oversized body is dropped unread").isEmpty();
        send("GET /healthz/ready HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(answer()).startsWith("HTTP/1.1 200 OK");
        assertDone();
    }

    @Test
    void closesAClientThatSendsNoHeadersInTime() {
        send("GET /healthz/ready HTTP/1.1\r\n"); // and then nothing
        channel.advanceTimeBy(3, TimeUnit.SECONDS);
        channel.runScheduledPendingTasks();
        assertThat(channel.isOpen()).isFalse();
        assertDone();
    }

    @Test
    void aResetClosesTheConnectionQuietly() {
        send("GET /healthz/ready HTTP/1.1\r\n");
        channel.pipeline().fireExceptionCaught(new IOException("Connection reset by peer"));
        assertThat(channel.isOpen()).isFalse();
        assertDone();
    }
}
