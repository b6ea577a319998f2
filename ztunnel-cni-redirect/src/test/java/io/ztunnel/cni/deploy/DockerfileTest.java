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
 * certificate and mesh config meet the DaemonSet's mounts.
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
