export API=http://127.0.0.1:8080/api/v1
export LOKIHOOKS_API_KEY="$(cat .dev/api-key)"   # make run keeps a development key there
export RECEIVER=http://127.0.0.1:9000            # where lokihooks receive listens
