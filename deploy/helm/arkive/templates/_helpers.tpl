{{/* Labels every object carries; the PodMonitor selects app.kubernetes.io/name. */}}
{{- define "arkive.labels" -}}
app.kubernetes.io/name: arkive
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "arkive.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}

{{/* The Temporal TLS / API key volumes, shared by the operator and the workers. */}}
{{- define "arkive.temporalVolumes" -}}
{{- if .Values.temporal.tls.secretName }}
- name: temporal-tls
  secret: {secretName: {{ .Values.temporal.tls.secretName }}}
{{- end }}
{{- if .Values.temporal.apiKey.secretName }}
- name: temporal-api-key
  secret: {secretName: {{ .Values.temporal.apiKey.secretName }}}
{{- end }}
{{- end }}

{{- define "arkive.temporalMounts" -}}
{{- if .Values.temporal.tls.secretName }}
- {name: temporal-tls, mountPath: /etc/arkive/temporal-tls, readOnly: true}
{{- end }}
{{- if .Values.temporal.apiKey.secretName }}
- {name: temporal-api-key, mountPath: /etc/arkive/temporal-api-key, readOnly: true}
{{- end }}
{{- end }}

{{- define "arkive.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: ["ALL"]}
{{- end }}
