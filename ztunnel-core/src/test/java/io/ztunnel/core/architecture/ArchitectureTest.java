package io.ztunnel.core.architecture;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.core.importer.Location;
import com.tngtech.archunit.lang.ArchRule;
import io.ztunnel.core.app.Main;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The shape of {@code ztunnel-core} as ARCHITECTURE.md draws it, checked on the compiled main classes: no package
 * cycle, and the packages in layers, top to bottom:
 *
 * <pre>
 *   demo                                  entry point (the local mesh demo); nothing uses it
 *   app                                   wiring and main
 *   inpod, admin, telemetry, dns          per-pod proxy sets, admin API, metrics, DNS proxy
 *   proxy                                 listeners, inbound and outbound flows, connection records
 *   hbone, control                        HTTP/2 CONNECT server and pool; local config and xDS into state
 *   routing, rbac                         where connections go; L4 authorization
 *   state                                 the immutable model and its store
 *   config, identity                      configuration; SPIFFE ids, CAs, certificates, TLS
 *   net, util                             network plumbing; small shared tools
 * </pre>
 *
 * A new package needs a place here; a dependency that breaks a rule fails this test with the offending classes.
 */
class ArchitectureTest {
    private static final String CORE = "io.ztunnel.core";
    /** Core's main classes, read from where they were compiled (scanning the whole class path takes much longer). */
    private static final JavaClasses MAIN = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importLocations(Set.of(
                    Location.of(Main.class.getProtectionDomain().getCodeSource().getLocation())));

    private static void check(ArchRule rule) {
        rule.check(MAIN);
    }

    private static String pkg(String name) {
        return CORE + "." + name + "..";
    }

    @Test
    void coreHasNoPackageCycles() {
        check(slices().matching(CORE + ".(*)..").should().beFreeOfCycles());
    }

    @Test
    void packagesFollowTheLayers() {
        check(layeredArchitecture()
                .consideringOnlyDependenciesInAnyPackage(CORE + "..")
                .layer("demo")
                .definedBy(pkg("demo"))
                .layer("app")
                .definedBy(pkg("app"))
                .layer("inpod")
                .definedBy(pkg("inpod"))
                .layer("admin")
                .definedBy(pkg("admin"))
                .layer("telemetry")
                .definedBy(pkg("telemetry"))
                .layer("dns")
                .definedBy(pkg("dns"))
                .layer("proxy")
                .definedBy(pkg("proxy"))
                .layer("hbone")
                .definedBy(pkg("hbone"))
                .layer("control")
                .definedBy(pkg("control"))
                .layer("routing")
                .definedBy(pkg("routing"))
                .layer("rbac")
                .definedBy(pkg("rbac"))
                .layer("state")
                .definedBy(pkg("state"))
                .layer("config")
                .definedBy(pkg("config"))
                .layer("identity")
                .definedBy(pkg("identity"))
                .layer("net")
                .definedBy(pkg("net"))
                .layer("util")
                .definedBy(pkg("util"))
                .whereLayer("demo")
                .mayNotBeAccessedByAnyLayer()
                .whereLayer("app")
                .mayOnlyAccessLayers(
                        "inpod",
                        "admin",
                        "telemetry",
                        "dns",
                        "proxy",
                        "hbone",
                        "control",
                        "routing",
                        "rbac",
                        "state",
                        "config",
                        "identity",
                        "net",
                        "util")
                .whereLayer("inpod")
                .mayOnlyAccessLayers("admin", "dns", "proxy", "state", "config", "identity", "net", "util")
                .whereLayer("admin")
                .mayOnlyAccessLayers("proxy", "rbac", "state", "config", "identity", "net", "util")
                .whereLayer("telemetry")
                .mayOnlyAccessLayers("proxy", "hbone", "state", "identity", "util")
                .whereLayer("dns")
                .mayOnlyAccessLayers("proxy", "state", "config", "net", "util")
                .whereLayer("proxy")
                .mayOnlyAccessLayers("hbone", "routing", "rbac", "state", "config", "identity", "net", "util")
                .whereLayer("hbone")
                .mayOnlyAccessLayers("config", "identity", "net", "util")
                .whereLayer("control")
                .mayOnlyAccessLayers("state", "config", "identity", "net", "util")
                .whereLayer("routing")
                .mayOnlyAccessLayers("state", "identity", "net", "util")
                .whereLayer("rbac")
                .mayOnlyAccessLayers("state", "identity", "util")
                .whereLayer("state")
                .mayOnlyAccessLayers("identity", "util")
                .whereLayer("config")
                .mayOnlyAccessLayers("identity", "util")
                .whereLayer("identity")
                .mayOnlyAccessLayers("util")
                .whereLayer("net")
                .mayOnlyAccessLayers("util")
                .whereLayer("util")
                .mayNotAccessAnyLayer());
    }

    @Test
    void netAndUtilAreTheBottom() {
        check(noClasses()
                .that()
                .resideInAPackage(pkg("net"))
                .should()
                .dependOnClassesThat(
                        resideInAPackage(CORE + "..").and(not(resideInAnyPackage(pkg("net"), pkg("util")))))
                .because("net holds the plumbing that hbone and proxy share; it builds on util alone"));
        check(noClasses()
                .that()
                .resideInAPackage(pkg("util"))
                .should()
                .dependOnClassesThat(resideInAPackage(CORE + "..").and(not(resideInAPackage(pkg("util")))))
                .because("util is used everywhere and uses nothing of core"));
    }

    @Test
    void hboneDoesNotUseTheProxies() {
        check(noClasses()
                .that()
                .resideInAPackage(pkg("hbone"))
                .should()
                .dependOnClassesThat()
                .resideInAPackage(pkg("proxy"))
                .because("the HBONE transport hands streams to its owner; it does not know the proxies"));
    }

    @Test
    void routingConfigAndControlDoNotReachUpIntoTheDataPlane() {
        check(noClasses()
                .that()
                .resideInAnyPackage(pkg("routing"), pkg("config"), pkg("control"))
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(pkg("hbone"), pkg("proxy"))
                .because("decisions, configuration and state sources sit below the transport and the proxies"));
    }

    @Test
    void nothingUsesTheDemo() {
        check(noClasses()
                .that()
                .resideOutsideOfPackage(pkg("demo"))
                .should()
                .dependOnClassesThat()
                .resideInAPackage(pkg("demo"))
                .because("the demo is an entry point, not a library"));
    }
}
