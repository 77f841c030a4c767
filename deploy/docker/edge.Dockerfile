# Written for the Dockerfile frontend built into Docker Engine (no `# syntax=` line, so a build
# needs no registry to fetch a frontend from; COPY --chmod works there since Engine 20.10).
#
# The edge: the official nginx 1.27 image (alpine) with our configuration, which is rendered
# from deploy/nginx/nginx.conf.template — the same template `prodstack up` renders for native
# nginx — by `prodstack export-httparena --write-deploy` (one file per profile, committed as
# deploy/docker/nginx.<profile>.conf; a test fails when one is out of date).
#
# Build context: the checkout root; NGINX_CONF picks the profile (compose.tuned.yml passes the
# tuned file). In an HttpArena export this file is edge/Dockerfile with NGINX_CONF=nginx.conf.
#
# nginx runs as the image intends: the master as root — it reads the TLS key, which is mounted
# from the host and may be readable by its owner only — and the workers as the unprivileged
# `nginx` user (`user nginx;` in the config), which is what serves every request.
FROM nginx:1.27-alpine
ARG NGINX_CONF=deploy/docker/nginx.production.conf
COPY ${NGINX_CONF} /etc/nginx/nginx.conf
# The image's sample site is not included by our config; remove it so nobody wonders.
RUN rm -f /etc/nginx/conf.d/default.conf
EXPOSE 8443
# busybox wget (part of the alpine base) speaks TLS; the certificate is self-signed.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["wget", "-q", "--no-check-certificate", "-O", "/dev/null", "https://127.0.0.1:8443/static/reset.css"]
# Our config says `daemon off;` itself: the image's default `-g 'daemon off;'` would duplicate it.
CMD ["nginx", "-c", "/etc/nginx/nginx.conf"]
