/* A shared object without the descriptor symbol: refused. */
__attribute__((visibility("default"))) int not_a_plugin(void);

int not_a_plugin(void)
{
	return 42;
}
