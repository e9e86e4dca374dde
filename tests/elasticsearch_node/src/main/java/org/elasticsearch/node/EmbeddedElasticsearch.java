package org.elasticsearch.node;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A real single Elasticsearch node in this JVM, for tests: Elasticsearch's own server code with the Netty4 HTTP
 * transport, started directly (not through ESTestCase, whose static set-up swaps in a mock HTTP layer).
 *
 * <p>Usage: {@code java -cp target/classes:target/lib/* org.elasticsearch.node.EmbeddedElasticsearch HOME HTTP_PORT
 * [SETTING=VALUE ...]}. Each extra argument sets one node setting over the single-node defaults
 * ({@code http.max_content_length=1mb}, {@code node.roles=data}, ...); {@code SETTING=} removes one (so
 * {@code discovery.type=} with {@code discovery.seed_hosts} and {@code cluster.initial_master_nodes} joins a cluster).
 * Prints {@code READY http://127.0.0.1:PORT} once the node is started and stops on SIGTERM or when stdin closes.
 * Lives in this package for {@code NodeConstruction}'s package-private hook, as the test framework's MockNode does.
 */
public final class EmbeddedElasticsearch extends Node {

    private EmbeddedElasticsearch(Environment environment, List<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader pluginsLoader) {
                return new ClasspathPluginsService(env.settings(), env, plugins);
            }
        }, false));
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: EmbeddedElasticsearch HOME HTTP_PORT [SETTING=VALUE ...]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Files.createDirectories(home.resolve("config"));
        Settings.Builder builder = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "spanbert-reader-tests")
            .put("node.name", "spanbert-reader-test-node")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", args[1])
            .put("transport.port", "0")
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("indices.breaker.total.use_real_memory", false);
        for (int i = 2; i < args.length; i++) {
            int equals = args[i].indexOf('=');
            if (equals <= 0) {
                System.err.println("not SETTING=VALUE: " + args[i]);
                System.exit(2);
            }
            String key = args[i].substring(0, equals);
            String value = args[i].substring(equals + 1);
            if (value.isEmpty()) {
                builder.remove(key);
            } else if (key.equals("node.roles") || key.equals("discovery.seed_hosts")
                || key.equals("cluster.initial_master_nodes")) {
                builder.putList(key, value.split(","));
            } else {
                builder.put(key, value);
            }
        }
        Settings settings = builder.build();
        String nodeName = settings.get("node.name");
        // console logging at WARN (the distribution configures log4j from files we do not have)
        LogConfigurator.configureWithoutConfig(Settings.builder().put("logger.level", "WARN").build());
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), home.resolve("config"),
            () -> nodeName);
        EmbeddedElasticsearch node = new EmbeddedElasticsearch(environment, List.of(EmbeddedNodePlugin.class));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            }
            stopped.countDown();
        }));
        node.start();
        System.out.println("READY http://127.0.0.1:" + args[1]);
        System.out.flush();
        Thread watcher = new Thread(() -> {  // the test process closing our stdin (or dying) stops the node
            try {
                while (System.in.read() != -1) {
                    // keep reading
                }
            } catch (Exception ignored) {
                // stdin gone
            }
            System.exit(0);
        }, "stdin-watcher");
        watcher.setDaemon(true);
        watcher.start();
        stopped.await();
    }
}
