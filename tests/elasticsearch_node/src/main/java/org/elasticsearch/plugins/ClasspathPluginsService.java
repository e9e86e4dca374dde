package org.elasticsearch.plugins;

import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;

import java.util.Collections;
import java.util.List;

/**
 * Loads plugins from the classpath, as Elasticsearch's own test framework does (its MockPluginsService):
 * the published server jar has no plugin folders to scan. Lives in this package for PluginsService's
 * package-private hooks.
 */
public class ClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> classpathPlugins;

    public ClasspathPluginsService(Settings settings, Environment environment, List<Class<? extends Plugin>> pluginClasses) {
        super(settings, environment.configDir(), new PluginsLoader(Collections.emptySet(), Collections.emptySet(), Collections.emptyMap()));
        List<LoadedPlugin> loaded = pluginClasses.stream().map(pluginClass -> {
            Plugin plugin = loadPlugin(pluginClass, settings, environment.configDir());
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(), "classpath plugin", "NA", org.elasticsearch.Build.current().version(),
                Integer.toString(Runtime.version().feature()), pluginClass.getName(), null, Collections.emptyList(),
                false, false, false, false
            );
            return new LoadedPlugin(descriptor, plugin, ClasspathPluginsService.class.getClassLoader());
        }).toList();
        loadExtensions(loaded);
        this.classpathPlugins = loaded;
    }

    @Override
    protected final List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }

    @Override
    public PluginsAndModules info() {
        return new PluginsAndModules(classpathPlugins.stream().map(LoadedPlugin::descriptor).map(PluginRuntimeInfo::new).toList(), List.of());
    }
}
