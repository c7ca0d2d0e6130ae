package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/schemabackup"
)

// The Dockerfile's build stage runs one `go build`; the same command, run here (there is no
// Docker daemon on this machine), must produce a static binary that works.
func TestDockerfileBuildCommand(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .* -o /out/arkive \./cmd/arkive)$`).FindSubmatch(df)
	require.NotNil(t, m, "the Dockerfile builds ./cmd/arkive into /out/arkive")
	out := filepath.Join(t.TempDir(), "arkive")
	cmd := exec.Command("sh", "-c", strings.Replace(string(m[1]), "/out/arkive", out, 1))
	cmd.Dir = "../.."
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	help, err := exec.Command(out, "--help").CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(help), "arkive operator")
	require.Contains(t, string(help), "arkive worker")
	for _, stage := range []string{"FROM golang:1.26 AS build", "COPY --from=build /out/arkive /arkive", `ENTRYPOINT ["/arkive"]`} {
		require.Contains(t, string(df), stage)
	}
}

// docker-compose.yml is a valid Compose project, loaded and validated by compose-go (the loader
// `docker compose config` runs; the docker compose plugin is not installed here), with the
// servers a laptop needs and a worker whose `arkive run` file loads as `arkive run` reads it.
func TestComposeFile(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"../../docker-compose.yml"}, cli.WithName("arkive"), cli.WithConsistency(true))
	require.NoError(t, err)
	project, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "docker compose config would refuse the file")
	require.Len(t, project.Services, 6)
	data, err := os.ReadFile("../../docker-compose.yml")
	require.NoError(t, err)
	var compose struct {
		Services map[string]struct {
			Image     string   `json:"image"`
			Build     string   `json:"build"`
			Command   []string `json:"command"`
			DependsOn []string `json:"depends_on"`
			Volumes   []string `json:"volumes"`
		} `json:"services"`
	}
	require.NoError(t, yaml.Unmarshal(data, &compose), "docker-compose.yml parses")
	for _, s := range []string{"temporal", "kafka", "schema-registry", "minio", "arkive"} {
		require.Contains(t, compose.Services, s)
	}
	for name, s := range compose.Services {
		require.True(t, s.Image != "" || s.Build != "", "%s has an image", name)
		require.NotContains(t, s.Image, ":latest", "%s: images are pinned", name)
		for _, dep := range s.DependsOn {
			require.Contains(t, compose.Services, dep, "%s depends on a service of the file", name)
		}
	}
	w := compose.Services["arkive"]
	require.Equal(t, "run", w.Command[0])
	file := w.Command[2]
	require.Len(t, w.Volumes, 1)
	host, inContainer, _ := strings.Cut(strings.TrimSuffix(w.Volumes[0], ":ro"), ":")
	local := filepath.Join("../..", host, strings.TrimPrefix(file, inContainer))
	fh, err := os.Open(local)
	require.NoError(t, err)
	defer fh.Close()
	res, err := loadResources(fh)
	require.NoError(t, err)
	starts, err := res.starts()
	require.NoError(t, err)
	var inputs []kafkabackup.Input
	var schemaBackups []schemabackup.RunInput
	for _, s := range starts {
		switch in := s.input.(type) {
		case kafkabackup.Input:
			inputs = append(inputs, in)
		case schemabackup.RunInput:
			schemaBackups = append(schemaBackups, in)
		}
	}
	require.Len(t, inputs, 1)
	require.Len(t, schemaBackups, 1, "the compose worker backs up the compose Schema Registry too")
	require.Contains(t, string(schemaBackups[0].Registry), "schema-registry:8081")
}

// Mover Pods run DefaultImage unless told otherwise: it is the image deploy/base runs.
func TestDefaultImageIsTheDeployedOne(t *testing.T) {
	k, err := os.ReadFile(filepath.Join("..", "..", "deploy", "base", "kustomization.yaml"))
	require.NoError(t, err)
	m := regexp.MustCompile(`newName: (\S+)\s+newTag: (\S+)`).FindSubmatch(k)
	require.NotNil(t, m)
	require.Equal(t, string(m[1])+":"+string(m[2]), DefaultImage)
}
