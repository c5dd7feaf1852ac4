package io.tessera.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP relay on loopback in front of a server (the chaos suite's PostgreSQL), that can be taken
 * down and brought back on the same port. Down, it closes every relayed connection and refuses new
 * ones, so its clients see what they would see while the server is stopped: broken connections,
 * then refused connects, until it is restarted.
 */
final class TcpProxy implements AutoCloseable {
  private static final long ACCEPTOR_END_TIMEOUT_MS = 5_000;

  private final int port;
  private final String targetHost;
  private final int targetPort;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private volatile ServerSocket server;
  private Thread acceptor;

  TcpProxy(int port, String targetHost, int targetPort) {
    this.port = port;
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

  int port() {
    return port;
  }

  boolean isUp() {
    return server != null;
  }

  /** Starts accepting on loopback. */
  synchronized void up() throws IOException {
    if (server != null) {
      return;
    }
    ServerSocket socket = new ServerSocket();
    socket.setReuseAddress(true);
    socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
    server = socket;
    acceptor = new Thread(() -> accept(socket), "tcp-proxy-" + port);
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /**
   * Stops accepting and breaks every relayed connection. Returns once the listening socket is
   * gone: a thread blocked in accept keeps the kernel's listener (and its backlog) alive until it
   * has been woken, so closing the Java socket alone would let a connect made just after this
   * returns still succeed.
   */
  synchronized void down() {
    ServerSocket socket = server;
    server = null;
    if (socket != null) {
      closeQuietly(socket);
      awaitAcceptorEnd();
    }
    sockets.forEach(TcpProxy::closeQuietly);
    sockets.clear();
  }

  private void awaitAcceptorEnd() {
    Thread thread = acceptor;
    acceptor = null;
    if (thread == null) {
      return;
    }
    try {
      thread.join(ACCEPTOR_END_TIMEOUT_MS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (thread.isAlive()) {
      throw new IllegalStateException(
          "relay on port " + port + ": its accept thread did not end within " + ACCEPTOR_END_TIMEOUT_MS + " ms of closing");
    }
  }

  private void accept(ServerSocket socket) {
    while (!socket.isClosed()) {
      Socket client;
      try {
        client = socket.accept();
      } catch (IOException e) {
        return; // closed by down()
      }
      if (server != socket) {
        closeQuietly(client); // accepted while down() was closing the listener
        return;
      }
      try {
        Socket upstream = new Socket(targetHost, targetPort);
        sockets.add(client);
        sockets.add(upstream);
        pump(client, upstream);
        pump(upstream, client);
      } catch (IOException e) {
        closeQuietly(client);
      }
    }
  }

  private void pump(Socket from, Socket to) {
    Thread thread =
        new Thread(
            () -> {
              byte[] buffer = new byte[16 * 1024];
              try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buffer)) >= 0) {
                  out.write(buffer, 0, n);
                  out.flush();
                }
              } catch (IOException e) {
                // one side closed or was broken by down(): end both
              } finally {
                closeQuietly(from);
                closeQuietly(to);
                sockets.remove(from);
                sockets.remove(to);
              }
            },
            "tcp-proxy-pump");
    thread.setDaemon(true);
    thread.start();
  }

  private static void closeQuietly(java.io.Closeable closeable) {
    try {
      closeable.close();
    } catch (IOException e) {
      // closing is all that is wanted
    }
  }

  @Override
  public void close() {
    down();
  }
}
