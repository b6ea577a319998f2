package io.ztunnel.cni.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * What can be checked of the image without a Docker engine (ImageTest builds it where one exists): the build stage
 * has every module the parent pom lists (Maven refuses a reactor with a missing module, even with {@code -pl}) and
 * {@code .mvn/jvm.config} (Error Prone needs the compiler internals it exports), and
 * the runtime stage works from {@code /} like Istio's image, so the relative default paths of the token, root
 * certificate and mesh config meet the DaemonSet's mounts; and the daemon's AOT cache is trained in the runtime stage
 * (by the JVM that will use it) for the daemon jar the entrypoint runs, where the launcher looks for it.
 */
class DockerfileTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @Test
    void theBuildStageCopiesEveryModuleOfTheReactor() throws Exception {
        String pom = Files.readString(ROOT.resolve("pom.xml"));
        String dockerfile = Files.readString(ROOT.resolve("Dockerfile"));
        Matcher m = Pattern.compile("<module>([^<]+)</module>").matcher(pom);
        List<String> modules = m.results().map(r -> r.group(1)).toList();
        assertThat(modules).isNotEmpty();
        for (String module : modules) {
            assertThat(dockerfile)
                    .as("Dockerfile copies module " + module)
                    .containsPattern("(?m)^COPY " + Pattern.quote(module) + " " + Pattern.quote(module) + "$");
        }
    }

    @Test
    void theBuildStageCopiesTheMavenJvmConfigThatErrorProneNeeds() throws Exception {
        String dockerfile = Files.readString(ROOT.resolve("Dockerfile"));
        assertThat(ROOT.resolve(".mvn/jvm.config")).exists();
        assertThat(dockerfile).containsPattern("(?m)^COPY \\.mvn \\.mvn$");
    }

    @Test
    void theRuntimeStageTrainsTheDaemonsAotCacheBesideTheJarTheEntrypointRuns() throws Exception {
        String dockerfile = Files.readString(ROOT.resolve("Dockerfile"));
        String build = dockerfile.substring(0, dockerfile.lastIndexOf("\nFROM "));
        String runtime = dockerfile.substring(dockerfile.lastIndexOf("\nFROM "));
        assertThat(build)
                .as("the build stage ships the daemon jar")
                .containsPattern("cp [^\\n]*ztunnel-core/target/ztunnel-daemon\\.jar[^\\n]* /out/");
        assertThat(runtime)
                .as("the runtime stage takes the launchers, the training script among them")
                .containsPattern("(?m)^COPY bin/ztunnel [^\\n]*bin/ztunnel-aot-train[^\\n]* /opt/ztunnel/bin/$")
                .contains("ZTUNNEL_DAEMON_JAR=/opt/ztunnel/ztunnel-daemon.jar");
        List<String> lines = runtime.lines().toList();
        int copy = indexOf(lines, "COPY --from=build /out/ /opt/ztunnel/");
        int train = indexOf(lines, "RUN /opt/ztunnel/bin/ztunnel-aot-train /opt/ztunnel/ztunnel-daemon.aot");
        int user = indexOf(lines, "USER ");
        assertThat(copy).as("the jars are in place").isNotNegative();
        assertThat(train)
                .as("the cache is trained after the jars are copied, before the image drops root")
                .isGreaterThan(copy)
                .isLessThan(user);
        // The entrypoint's launcher uses the cache named after the daemon jar, in the jar's directory.
        String launcher = Files.readString(ROOT.resolve("bin/ztunnel"));
        assertThat(launcher)
                .contains("jar=\"${ZTUNNEL_DAEMON_JAR:-")
                .contains("aot=\"${ZTUNNEL_AOT_CACHE:-${jar%.jar}.aot}\"")
                .contains("-XX:AOTCache=$aot");
        String training = Files.readString(ROOT.resolve("bin/ztunnel-aot-train"));
        assertThat(training).contains("out=\"${1:-${ZTUNNEL_DAEMON_JAR%.jar}.aot}\"");
    }

    private static int indexOf(List<String> lines, String prefix) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void theRuntimeStageWorksFromRootAndStartsTheDaemon() throws Exception {
        String dockerfile = Files.readString(ROOT.resolve("Dockerfile"));
        String runtime = dockerfile.substring(dockerfile.lastIndexOf("\nFROM "));
        List<String> workdirs =
                runtime.lines().filter(l -> l.startsWith("WORKDIR ")).toList();
        assertThat(workdirs).as("the last WORKDIR of the runtime stage").isNotEmpty();
        assertThat(workdirs.getLast()).isEqualTo("WORKDIR /");
        assertThat(runtime)
                .contains("ENTRYPOINT [\"/opt/ztunnel/bin/ztunnel\"]")
                .contains("CMD [\"proxy\", \"ztunnel\"]");
    }
}
